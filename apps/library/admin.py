"""Read-only views for staff: exports being built and account deletions in progress."""

from django.contrib import admin

from .models import AccountDeletion, DataExport


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DataExport)
class DataExportAdmin(_ReadOnly):
    list_display = ["id", "owner", "status", "files_count", "size_bytes", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["id", "owner__email"]
    list_select_related = ["owner"]


@admin.register(AccountDeletion)
class AccountDeletionAdmin(_ReadOnly):
    list_display = ["user", "created_at", "finished_at"]
    list_select_related = ["user"]

    def has_delete_permission(self, request, obj=None):
        return False
