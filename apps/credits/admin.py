from django.contrib import admin

from .models import CreditAccount, LedgerEntry


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money rows are written by services only; staff can look, not touch."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "amount", "memo", "generation"]
    list_filter = ["kind"]
    search_fields = ["user__email", "idempotency_key"]
    list_select_related = ["user"]
    raw_id_fields = ["generation"]


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    list_display = ["user", "balance", "updated_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
