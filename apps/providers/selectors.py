from datetime import timedelta

from django.db.models import Avg, Count, Q
from django.utils import timezone

from .models import CircuitBreaker, ProviderCall


def provider_call_summary(
    *, provider: str, model: str | None = None, window: timedelta = timedelta(hours=1)
) -> dict:
    """Recent calls to one provider, or to one of its models: count, mean latency, errors by class."""
    since = timezone.now() - window
    calls = ProviderCall.objects.filter(provider=provider, created_at__gte=since)
    if model is not None:
        calls = calls.filter(model=model[:200])  # stored cut to the field's length
    return calls.aggregate(
        calls=Count("id"),
        mean_latency_ms=Avg("latency_ms", filter=Q(outcome=ProviderCall.Outcome.OK)),
        retryable=Count("id", filter=Q(outcome=ProviderCall.Outcome.RETRYABLE)),
        rejected=Count("id", filter=Q(outcome=ProviderCall.Outcome.REJECTED)),
        blocked=Count("id", filter=Q(outcome=ProviderCall.Outcome.BLOCKED)),
        credentials_refused=Count("id", filter=Q(outcome=ProviderCall.Outcome.CREDENTIALS_REFUSED)),
    )


def breaker_call_summary(key: str, *, window: timedelta = timedelta(hours=1)) -> dict:
    """provider_call_summary for a breaker key: a provider's ("fal") or one model's ("fal:fal-ai/flux")."""
    provider, _, model = key.partition(":")
    return provider_call_summary(provider=provider, model=model or None, window=window)


def breaker_open_keys() -> set[str]:
    """The breakers open right now (provider and provider:model keys), read without side effects."""
    return set(CircuitBreaker.objects.filter(state=CircuitBreaker.State.OPEN).values_list("key", flat=True))
