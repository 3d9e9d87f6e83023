"""Retention: the append-only operational tables are pruned on a schedule so they stop growing
without bound. Each table keeps its own number of days (settings, docs/operations.md#retention);
rows go in batches of RETENTION_BATCH_SIZE by primary key, so no delete holds locks for long.

Live events are trimmed by the realtime app's own task (EVENTS_RETENTION_HOURS); ledger rows and
generations are never pruned."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.hooks.models import WebhookAttempt
from apps.hooks.models import WebhookDelivery as OutgoingDelivery
from apps.providers.models import ProviderCall
from apps.providers.models import WebhookDelivery as WebhookReceipt

from ..models import BreakerTransition, JobSample, ProbeResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    name: str
    model: type
    field: str
    days_setting: str
    # Rows that must stay whatever their age (a delivery still being retried).
    keep: Q | None = None


RULES = (
    Rule("provider_calls", ProviderCall, "created_at", "RETENTION_PROVIDER_CALLS_DAYS"),
    Rule("webhook_receipts", WebhookReceipt, "received_at", "RETENTION_WEBHOOK_RECEIPTS_DAYS"),
    # Outgoing webhook deliveries and their attempts: the delivery log users read.
    Rule("delivery_attempts", WebhookAttempt, "created_at", "RETENTION_DELIVERY_LOGS_DAYS",
         keep=Q(delivery__status=OutgoingDelivery.Status.PENDING)),
    Rule("deliveries", OutgoingDelivery, "created_at", "RETENTION_DELIVERY_LOGS_DAYS",
         keep=Q(status=OutgoingDelivery.Status.PENDING)),
    Rule("job_samples", JobSample, "finished_at", "RETENTION_JOB_SAMPLES_DAYS"),
    Rule("probe_results", ProbeResult, "window_start", "RETENTION_JOB_SAMPLES_DAYS"),
    Rule("breaker_transitions", BreakerTransition, "at", "RETENTION_JOB_SAMPLES_DAYS"),
)


def _prune(rule: Rule, *, now, batch: int, max_batches: int) -> int:
    days = getattr(settings, rule.days_setting)
    if days <= 0:
        return 0  # kept for ever
    old = rule.model.objects.filter(**{f"{rule.field}__lt": now - timedelta(days=days)})
    if rule.keep is not None:
        old = old.exclude(rule.keep)
    removed = 0
    for _ in range(max_batches):
        ids = list(old.order_by(rule.field).values_list("pk", flat=True)[:batch])
        if not ids:
            break
        removed += rule.model.objects.filter(pk__in=ids).delete()[1].get(rule.model._meta.label, 0)
        if len(ids) < batch:
            break
    return removed


def retention_prune(*, now=None, max_batches: int = 200) -> dict[str, int]:
    """Delete what has outlived its retention; returns the rows removed per table. Safe to run
    twice or in parallel (a row deleted by the other run is simply not counted)."""
    now = now or timezone.now()
    batch = settings.RETENTION_BATCH_SIZE
    removed = {rule.name: _prune(rule, now=now, batch=batch, max_batches=max_batches) for rule in RULES}
    if any(removed.values()):
        logger.info("retention pruned old rows", extra={"removed": removed})
    return removed
