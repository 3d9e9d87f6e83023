from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from . import breaker, credentials, services
from .models import CircuitBreaker, ProviderCall, ProviderCredential, WebhookDelivery
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
    list_display = ["created_at", "provider", "model", "operation", "outcome", "latency_ms", "cost_usd",
                    "generation_id"]
    search_fields = ["generation_id"]
    list_filter = ["provider", "outcome", "operation"]
    date_hierarchy = "created_at"


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnly):
    list_display = ["received_at", "provider", "delivery_id", "provider_job_id", "applied_at"]
    list_filter = ["provider", ("applied_at", admin.EmptyFieldListFilter)]
    search_fields = ["delivery_id", "provider_job_id"]


class ProviderCredentialForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=[(key, key) for key in credentials.ENV_SETTINGS])
    new_key = forms.CharField(
        required=False, strip=True, label="New key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Paste the provider's API key. It is stored encrypted and never shown again; "
                  "leave empty to keep the stored one.",
    )
    clear_key = forms.BooleanField(required=False, label="Forget the stored key")

    class Meta:
        model = ProviderCredential
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["provider"]  # fixed once the row exists
        else:
            del self.fields["clear_key"]
            taken = set(ProviderCredential.objects.values_list("provider", flat=True))
            self.fields["provider"].choices = [(key, key) for key in credentials.ENV_SETTINGS if key not in taken]

    def clean(self):
        data = super().clean()
        provider = data.get("provider") or (self.instance.provider if self.instance.pk else "")
        if data.get("new_key"):
            try:
                data["new_key"] = services.provider_credential_validate(provider=provider, secret=data["new_key"])
            except services.CredentialInvalidError as error:
                self.add_error("new_key", error.message)
        return data


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(admin.ModelAdmin):
    """Hosted providers' keys, entered here instead of (or as well as) environment variables; the
    variable wins where both are set. A saved key is used by every process at once."""

    form = ProviderCredentialForm
    list_display = ["provider", "stored_key", "in_use", "tested_at", "test_result"]
    readonly_fields = ["stored_key", "in_use", "tested_at", "test_result", "updated_at", "updated_by"]
    actions = ["test_connection"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["provider", "new_key"]
        return ["new_key", "clear_key", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def has_add_permission(self, request):
        return super().has_add_permission(request) and ProviderCredential.objects.filter(
            provider__in=credentials.ENV_SETTINGS).count() < len(credentials.ENV_SETTINGS)

    def has_delete_permission(self, request, obj=None):
        return False  # "Forget the stored key" clears it, audited

    @admin.display(description="stored key")
    def stored_key(self, obj):
        return f"set, ending …{obj.last4}" if obj.secret_encrypted else "not set"

    @admin.display(description="key in use")
    def in_use(self, obj):
        source = credentials.secret_source(obj.provider)
        if source == "environment":
            return f"environment variable {credentials.ENV_SETTINGS[obj.provider]} (wins over a stored key)"
        return "stored key" if source == "stored" else "none: models on this provider are unavailable"

    @admin.display(description="last test")
    def test_result(self, obj):
        if obj.test_ok is None:
            return "—"
        return f"{'OK' if obj.test_ok else 'Failed'}: {obj.test_message}"

    def save_model(self, request, obj, form, change):
        provider = obj.provider if change else form.cleaned_data["provider"]
        if form.cleaned_data.get("new_key"):
            saved = services.provider_credential_set(
                provider=provider, secret=form.cleaned_data["new_key"], actor=request.user)
        else:
            if form.cleaned_data.get("clear_key"):
                services.provider_credential_clear(provider=provider, actor=request.user)
            saved, _ = ProviderCredential.objects.get_or_create(provider=provider)
        obj.pk = saved.pk
        if form.cleaned_data.get("new_key"):
            # Tested at once with the key just saved (this process reads it from the database).
            check = services.provider_connection_test(provider=provider)
            self.message_user(request, f"{provider}: {check.message}", messages.SUCCESS if check.ok else messages.ERROR)
        obj.refresh_from_db()

    def construct_change_message(self, request, form, formsets, add=False):
        return [{"changed": {"fields": ["key"]}}] if form.cleaned_data.get("new_key") else []

    @admin.action(description="Test connection (a cheap authenticated request)")
    def test_connection(self, request, queryset):
        for row in queryset:
            check = services.provider_connection_test(provider=row.provider)
            self.message_user(request, f"{row.provider}: {check.message}",
                              messages.SUCCESS if check.ok else messages.ERROR)
