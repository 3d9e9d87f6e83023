import uuid
from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Sum
from django.template.response import TemplateResponse
from django.utils import timezone

from apps.core.exceptions import ApplicationError

from . import admin_stripe, selectors, services  # noqa: F401  (admin_stripe: trims dj-stripe's admin)
from .models import (
    CostReport,
    CreditAccount,
    CreditAdjustment,
    CreditPackage,
    DailySpend,
    LedgerEntry,
    Purchase,
    PurchaseReversal,
    SpendAlert,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money rows are written by services only; staff can look, not touch."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "amount", "memo", "generation", "purchase", "actor"]
    list_filter = ["kind"]
    search_fields = ["user__email", "idempotency_key"]
    list_select_related = ["user", "actor", "purchase"]
    raw_id_fields = ["generation", "purchase"]
    date_hierarchy = "created_at"


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    list_display = ["user", "balance", "updated_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]


class AdjustmentForm(forms.ModelForm):
    reason = forms.CharField(
        max_length=200, help_text="Why — kept in the ledger with your name. The user sees it in their history."
    )
    # One key per rendered form, so a double submit posts once.
    nonce = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    class Meta:
        model = CreditAdjustment
        fields = ["user", "amount"]
        help_texts = {"amount": "Credits to add (positive) or remove (negative). A balance can't go below zero."}

    def clean(self):
        data = super().clean()
        user, amount = data.get("user"), data.get("amount")
        if amount == 0:
            self.add_error("amount", "Add or remove at least one credit.")
        if user is not None and amount is not None and amount < 0:
            balance = CreditAccount.objects.filter(user=user).values_list("balance", flat=True).first() or 0
            if balance + amount < 0:
                self.add_error("amount", f"The balance is {balance}; at most {balance} credits can be removed.")
        return data


@admin.register(CreditAdjustment)
class CreditAdjustmentAdmin(admin.ModelAdmin):
    """Staff adjustments: add one with a reason; none can be edited or deleted afterwards."""

    form = AdjustmentForm
    list_display = ["created_at", "user", "amount", "memo", "actor"]
    search_fields = ["user__email", "memo"]
    list_select_related = ["user", "actor"]
    raw_id_fields = ["user"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(kind=LedgerEntry.Kind.ADJUSTMENT)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fields(self, request, obj=None):
        return ["user", "amount", "reason", "nonce"] if obj is None else ["created_at", "user", "amount", "memo", "actor"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["created_at", "user", "amount", "memo", "actor"]

    def save_model(self, request, obj, form, change):
        entry = services.credits_adjust(
            user=form.cleaned_data["user"], amount=form.cleaned_data["amount"], reason=form.cleaned_data["reason"],
            actor=request.user, idempotency_key=str(form.cleaned_data["nonce"]),
        )
        obj.pk = obj.id = entry.pk
        obj.created_at = entry.created_at
        obj._state.adding = False


class PurchaseReversalInline(admin.TabularInline):
    model = PurchaseReversal
    fk_name = "purchase"
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "stripe_id", "amount_cents", "credits_due", "credits_debited", "undone_entry"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class PurchaseLedgerInline(admin.TabularInline):
    model = LedgerEntry
    fk_name = "purchase"
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "amount", "memo", "idempotency_key"]
    readonly_fields = fields
    verbose_name_plural = "ledger entries"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "package", "credits", "amount_display", "status", "credits_shortfall",
                    "needs_review"]
    list_filter = ["status", "needs_review", "package"]
    search_fields = ["id", "user__email", "stripe_checkout_session_id", "stripe_payment_intent_id"]
    list_select_related = ["user", "package"]
    date_hierarchy = "created_at"
    inlines = [PurchaseLedgerInline, PurchaseReversalInline]
    actions = ["refund_through_stripe"]
    readonly_fields = [
        "id", "user", "package", "credits", "amount_cents", "currency", "status", "stripe_checkout_session_id",
        "stripe_payment_intent_id", "paid_at", "credits_shortfall", "needs_review", "review_note", "created_at",
        "updated_at",
    ]

    def has_change_permission(self, request, obj=None):
        # Viewable (the detail page lists its ledger rows and reversals); nothing is editable.
        return False

    @admin.action(description="Refund selected purchases in full through Stripe (credits come back by webhook)")
    def refund_through_stripe(self, request, queryset):
        for purchase in queryset:
            try:
                refund = services.credits_purchase_refund_request(purchase=purchase, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{purchase.pk}: {exc.message}", level=messages.WARNING)
                continue
            self.message_user(request, f"{purchase.pk}: Stripe refund {refund['id']} is {refund['status']}.")


@admin.register(CreditPackage)
class CreditPackageAdmin(admin.ModelAdmin):
    list_display = ["name", "credits", "price_display", "currency", "is_active", "sort_order", "sold"]
    list_editable = ["is_active", "sort_order"]
    list_filter = ["is_active"]

    @admin.display(description="paid purchases")
    def sold(self, obj):
        return obj.purchases.exclude(paid_at=None).count()

    def save_model(self, request, obj, form, change):
        services.credits_package_save(package=obj, actor=request.user)  # audited

    def has_delete_permission(self, request, obj=None):
        return False  # purchases point at their package; switch it off (is_active) instead


@admin.register(DailySpend)
class DailySpendAdmin(ReadOnlyAdmin):
    """Credits held or charged per UTC day. Rows without a user are everyone's total (refreshed each
    minute from the users' rows unless GLOBAL_DAILY_BUDGET is set); `alerted at` is
    set once the day passes DAILY_SPEND_ALERT_CREDITS (staff are also mailed and a warning is logged)."""

    list_display = ["day", "scope", "spent", "alerted_at"]
    list_filter = [("user", admin.EmptyFieldListFilter), "day"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    date_hierarchy = "day"

    @admin.display(description="who")
    def scope(self, obj):
        return obj.user or "everyone"

    def changelist_view(self, request, extra_context=None):
        # The users' rows are exact at once; everyone's rows are summed from them each minute.
        total = DailySpend.objects.filter(user__isnull=False).aggregate(total=Sum("spent"))["total"] or 0
        return super().changelist_view(request, {**(extra_context or {}), "title": f"Daily spend ({total} credits in all)"})


@admin.register(SpendAlert)
class SpendAlertAdmin(ReadOnlyAdmin):
    """Daily alerts sent to staff (one per day and kind)."""

    list_display = ["day", "kind", "value", "threshold", "sent_at"]
    list_filter = ["kind"]
    date_hierarchy = "day"


COST_PERIODS = {1: "Today (UTC)", 7: "Last 7 days", 30: "Last 30 days"}


@admin.register(CostReport)
class CostReportAdmin(ReadOnlyAdmin):
    """Credits charged against provider dollars: per model (margin), per provider, top spenders."""

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def changelist_view(self, request, extra_context=None):
        try:
            days = int(request.GET.get("days", 1))
        except ValueError:
            days = 1
        days = days if days in COST_PERIODS else 1
        since = datetime.combine(timezone.localdate() - timedelta(days=days - 1), time.min,
                                 tzinfo=timezone.get_current_timezone())
        context = {
            **self.admin_site.each_context(request), **(extra_context or {}),
            "title": "Costs & margin", "opts": self.model._meta, "days": days, "periods": COST_PERIODS,
            "period": COST_PERIODS[days], "credit_value": settings.CREDIT_VALUE_USD,
            "totals": selectors.costs_totals(since=since), "models": selectors.costs_by_model(since=since),
            "providers": selectors.costs_by_provider(since=since),
            "spenders": selectors.costs_top_spenders(since=since),
            "alert_usd": settings.DAILY_PROVIDER_SPEND_ALERT_USD,
        }
        return TemplateResponse(request, "admin/credits/costs.html", context)
