from django.contrib import admin, messages

from apps.core.exceptions import ApplicationError

from . import services
from .models import Generation, GenerationImage


class GenerationImageInline(admin.TabularInline):
    model = GenerationImage
    extra = 0
    can_delete = False
    fields = ["index", "file", "thumbnail", "width", "height", "size_bytes", "sha256"]
    readonly_fields = fields


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "catalog_model", "status", "progress", "quoted_credits", "created_at", "finished_at"]
    list_filter = ["status", "catalog_model", "provider"]
    search_fields = ["id", "owner__email", "prompt", "provider_job_id"]
    list_select_related = ["owner", "catalog_model"]
    date_hierarchy = "created_at"
    inlines = [GenerationImageInline]
    actions = ["cancel_generations"]
    readonly_fields = [
        "id", "owner", "catalog_model", "prompt", "negative_prompt", "params", "seed", "quoted_credits", "status",
        "progress", "revision", "provider", "route_index", "provider_job_id", "notes", "predict_seconds",
        "error_code", "error_message", "created_at", "deadline_at", "dispatched_at", "started_at", "finishing_at",
        "finished_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Cancel selected generations (credits are released)")
    def cancel_generations(self, request, queryset):
        canceled = 0
        for generation in queryset.select_related("owner"):
            try:
                services.generation_cancel(user=generation.owner, generation_id=generation.id)
                canceled += 1
            except ApplicationError as exc:
                self.message_user(request, f"{generation.id}: {exc.message}", level=messages.WARNING)
        self.message_user(request, f"Canceled {canceled} generation(s).")
