import json

from django import forms
from django.contrib import admin

from . import services
from .models import CatalogModel
from .selectors import catalog_model_availability
from .validation import CatalogInvalidError, routes_clean, tiers_clean

JSON_WIDGET = forms.Textarea(attrs={"rows": 8, "cols": 100, "style": "font-family: monospace"})


class OnePerLineJSONField(forms.JSONField):
    """A list shown one entry per line, so staff reorder routes by moving lines."""

    def prepare_value(self, value):
        if isinstance(value, list) and value:
            return "[\n" + ",\n".join("  " + json.dumps(item, ensure_ascii=False) for item in value) + "\n]"
        return super().prepare_value(value)


class CatalogModelForm(forms.ModelForm):
    routes = OnePerLineJSONField(widget=JSON_WIDGET, help_text=(
        "Tried in order (move a line up or down to reorder). Each: {\"provider\", \"model\", \"enabled\": "
        "true/false, \"cost\": {\"unit\": \"image\" | \"megapixel\" | \"second\", \"usd\": 0.003}, "
        "…adapter options}."))
    tiers = OnePerLineJSONField(widget=JSON_WIDGET, help_text=(
        "Each: {\"key\", \"label\", \"area\" (pixels), \"price\" (credits per image, or per second of video)}."))

    class Meta:
        model = CatalogModel
        fields = list(services.STAFF_FIELDS)

    def clean_routes(self):
        return self._checked(routes_clean, self.cleaned_data["routes"])

    def clean_tiers(self):
        return self._checked(tiers_clean, self.cleaned_data["tiers"])

    @staticmethod
    def _checked(check, value):
        try:
            return check(value)
        except CatalogInvalidError as error:
            raise forms.ValidationError(error.message) from None


@admin.register(CatalogModel)
class CatalogModelAdmin(admin.ModelAdmin):
    """The catalogue: loaded from catalog.toml, changed here without a redeploy. Fields staff change
    are kept by `catalog_load` (listed under "staff overrides") until *Forget staff changes*."""

    form = CatalogModelForm
    list_display = ["label", "slug", "kind", "sort_order", "is_enabled", "coming_soon", "availability", "overrides"]
    list_editable = ["sort_order", "is_enabled", "coming_soon"]
    list_filter = ["is_enabled", "coming_soon", "kind"]
    search_fields = ["label", "slug"]
    readonly_fields = [
        "slug", "kind", "capabilities", "aspect_ratios", "supports_negative_prompt", "supports_seed",
        "deterministic", "staff_overrides", "availability",
    ]
    fieldsets = [
        (None, {"fields": ["slug", "label", "description", "kind", "availability"]}),
        ("Offered to users", {"fields": ["is_enabled", "disabled_reason", "coming_soon", "coming_soon_note",
                                         "sort_order"]}),
        ("Prices and sizes", {"fields": ["tiers", "max_images"]}),
        ("Routes (internal, never shown to users)", {"fields": ["routes", "typical_seconds", "deadline_seconds"]}),
        ("From the catalogue file only", {"fields": [
            "capabilities", "aspect_ratios", "supports_negative_prompt", "supports_seed", "deterministic",
            "staff_overrides"]}),
    ]
    actions = ["forget_staff_changes"]

    def has_add_permission(self, request):
        return False  # the catalogue file is the source; `manage.py catalog_load` loads it

    def has_delete_permission(self, request, obj=None):
        return False  # generations keep pointing at their model; switch it off instead

    def save_model(self, request, obj, form, change):
        changes = {field: form.cleaned_data[field] for field in form.changed_data if field in services.STAFF_FIELDS}
        saved = services.catalog_model_update(model_id=obj.pk, changes=changes, actor=request.user)
        obj.refresh_from_db()
        obj.staff_overrides = saved.staff_overrides

    @admin.display(description="Shown to users")
    def availability(self, obj):
        availability = catalog_model_availability(obj)
        if availability.coming_soon:
            return f"Coming soon: {availability.reason}"
        return "Available" if availability.available else f"Unavailable: {availability.reason}"

    @admin.display(description="staff overrides")
    def overrides(self, obj):
        return ", ".join(obj.staff_overrides) or "—"

    @admin.action(description="Forget staff changes (the next catalog_load restores the file's values)")
    def forget_staff_changes(self, request, queryset):
        for model in queryset:
            services.catalog_model_overrides_clear(model_id=model.pk, actor=request.user)
        self.message_user(request, f"{queryset.count()} model(s) will follow the catalogue file again.")
from . import admin_presets  # noqa: E402,F401 — the prompt presets admin
