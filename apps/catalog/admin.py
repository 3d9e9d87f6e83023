from django.contrib import admin

from .models import CatalogModel
from .selectors import catalog_model_availability


@admin.register(CatalogModel)
class CatalogModelAdmin(admin.ModelAdmin):
    list_display = ["label", "slug", "kind", "is_enabled", "disabled_reason", "availability"]
    list_editable = ["is_enabled", "disabled_reason"]
    list_filter = ["is_enabled", "kind"]
    search_fields = ["label", "slug"]
    readonly_fields = [
        "slug", "label", "description", "kind", "routes", "aspect_ratios", "max_images",
        "supports_negative_prompt", "supports_seed", "tiers", "sort_order", "typical_seconds", "deadline_seconds",
    ]
    fields = ["is_enabled", "disabled_reason", *readonly_fields]

    def has_add_permission(self, request):
        return False  # the catalogue file is the source; `manage.py catalog_load` loads it

    @admin.display(description="Shown to users")
    def availability(self, obj):
        availability = catalog_model_availability(obj)
        return "Available" if availability.available else f"Unavailable: {availability.reason}"
from . import admin_presets  # noqa: E402,F401 — the prompt presets admin
