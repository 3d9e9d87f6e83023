from django.conf import settings
from django.urls import reverse

from .models import ProviderCall


def provider_call_record(*, provider: str, model: str, operation: str, outcome: str, seconds: float) -> None:
    ProviderCall.objects.create(
        provider=provider, model=model[:200], operation=operation, outcome=outcome, latency_ms=int(seconds * 1000)
    )


def provider_webhook_url(provider: str) -> str | None:
    """Where a provider should send its callbacks, or None when no public URL is set."""
    base = settings.PROVIDER_WEBHOOK_BASE_URL
    if not base:
        return None
    return base.rstrip("/") + reverse("provider_webhook", kwargs={"provider": provider})
