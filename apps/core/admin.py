from django.contrib import admin

from .models import StaffAction


@admin.register(StaffAction)
class StaffActionAdmin(admin.ModelAdmin):
    """The audit trail: read-only, newest first."""

    list_display = ["created_at", "actor_label", "action", "target_type", "target_label", "changes"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_label", "target_label", "target_id", "action"]
    date_hierarchy = "created_at"
    list_select_related = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
