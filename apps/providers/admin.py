from django.contrib import admin
from django.utils import timezone

from . import breaker
from .models import CircuitBreaker, ProviderCall, WebhookDelivery
from .selectors import breaker_call_summary

REFUSALS = {401: "credentials refused", 403: "credentials refused", 402: "payment required"}


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(ReadOnly):
    """Each provider's and provider model's breaker, with the last hour of calls beside it."""

    list_display = ["key", "state", "account", "consecutive_failures", "opened_at", "calls_last_hour",
                    "mean_latency", "errors_last_hour"]
    list_filter = ["state"]
    search_fields = ["key"]
    actions = ["close_breakers"]

    def _summary(self, obj):
        # A model's row counts that model's calls, a provider's row all of the provider's.
        if not hasattr(obj, "_summary"):
            obj._summary = breaker_call_summary(obj.key)
        return obj._summary

    @admin.display(description="account", ordering="refused_at")
    def account(self, obj):
        if obj.refused_at is None:
            return "ok"
        what = REFUSALS.get(obj.refused_status, "credentials refused")
        since = timezone.localtime(obj.refused_at).strftime("%Y-%m-%d %H:%M")
        status = f" (HTTP {obj.refused_status})" if obj.refused_status else ""
        return f"{what}{status} since {since}"

    @admin.display(description="calls (1 h)")
    def calls_last_hour(self, obj):
        return self._summary(obj)["calls"]

    @admin.display(description="mean latency (1 h)")
    def mean_latency(self, obj):
        latency = self._summary(obj)["mean_latency_ms"]
        return f"{latency:.0f} ms" if latency is not None else "—"

    @admin.display(description="errors by class (1 h)")
    def errors_last_hour(self, obj):
        summary = self._summary(obj)
        classes = ("retryable", "rejected", "blocked", "credentials_refused")
        return " · ".join(f"{name.replace('_', ' ')} {summary[name]}" for name in classes)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Close selected breakers (after fixing the provider)")
    def close_breakers(self, request, queryset):
        for row in queryset:
            breaker.breaker_record_success(row.key)
        self.message_user(request, f"Closed {queryset.count()} breaker(s).")


@admin.register(ProviderCall)
class ProviderCallAdmin(ReadOnly):
    list_display = ["created_at", "provider", "model", "operation", "outcome", "latency_ms"]
    list_filter = ["provider", "outcome", "operation"]
    date_hierarchy = "created_at"


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnly):
    list_display = ["received_at", "provider", "delivery_id", "provider_job_id", "applied_at"]
    list_filter = ["provider", ("applied_at", admin.EmptyFieldListFilter)]
    search_fields = ["delivery_id", "provider_job_id"]
