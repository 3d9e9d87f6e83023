"""A finished generation's provider cost in dollars: the sum of the billed calls made for it."""

from decimal import Decimal

from django.db.models import Sum

from apps.core import events
from apps.providers.models import ProviderCall

from ..models import Generation


def generation_provider_cost_record(*, generation_id) -> Decimal:
    """Store what the providers billed for a generation (idempotent: recomputed from its calls)."""
    total = ProviderCall.objects.filter(generation_id=generation_id, cost_usd__isnull=False).aggregate(
        total=Sum("cost_usd"))["total"] or Decimal(0)
    Generation.objects.filter(pk=generation_id).exclude(provider_cost_usd=total).update(provider_cost_usd=total)
    return total


def on_generation_finished(event: events.GenerationFinished) -> None:
    generation_provider_cost_record(generation_id=event.generation_id)


def subscribe() -> None:
    events.subscribe(events.GenerationFinished, on_generation_finished)
