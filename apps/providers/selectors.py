from datetime import timedelta

from django.db.models import Avg, Count, Q
from django.utils import timezone

from .models import ProviderCall


def provider_call_summary(*, provider: str, window: timedelta = timedelta(hours=1)) -> dict:
    """Recent calls to one provider: count, mean latency, and errors by class."""
    since = timezone.now() - window
    return ProviderCall.objects.filter(provider=provider, created_at__gte=since).aggregate(
        calls=Count("id"),
        mean_latency_ms=Avg("latency_ms", filter=Q(outcome=ProviderCall.Outcome.OK)),
        retryable=Count("id", filter=Q(outcome=ProviderCall.Outcome.RETRYABLE)),
        rejected=Count("id", filter=Q(outcome=ProviderCall.Outcome.REJECTED)),
        blocked=Count("id", filter=Q(outcome=ProviderCall.Outcome.BLOCKED)),
    )
