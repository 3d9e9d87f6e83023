from datetime import timedelta

import pytest
from django.utils import timezone

from apps.hooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from apps.ops.models import JobSample, ProbeResult
from apps.ops.services.retention import retention_prune
from apps.ops.tasks import retention_prune_task
from apps.providers.models import ProviderCall
from apps.providers.models import WebhookDelivery as WebhookReceipt
from tests.ops.factories import JobSampleFactory, ProbeResultFactory

pytestmark = pytest.mark.django_db


def aged(model, field: str, row, days: float):
    model.objects.filter(pk=row.pk).update(**{field: timezone.now() - timedelta(days=days)})
    return row


def call(days):
    row = ProviderCall.objects.create(provider="fal", model="m", operation="submit", outcome="ok", latency_ms=5)
    return aged(ProviderCall, "created_at", row, days)


def receipt(days, n):
    row = WebhookReceipt.objects.create(provider="fal", delivery_id=f"d{n}", provider_job_id="j")
    return aged(WebhookReceipt, "received_at", row, days)


def delivery(endpoint, days, status, n):
    row = WebhookDelivery.objects.create(endpoint=endpoint, message_id=f"m{n}", event_type="generation.succeeded",
                                         payload="{}", status=status)
    attempt = WebhookAttempt.objects.create(delivery=row, number=1, status_code=500)
    aged(WebhookAttempt, "created_at", attempt, days)
    return aged(WebhookDelivery, "created_at", row, days)


def test_each_table_keeps_its_retention_and_pending_deliveries_stay(user, settings):
    settings.RETENTION_BATCH_SIZE = 2  # several batches
    settings.RETENTION_PROVIDER_CALLS_DAYS = 30
    settings.RETENTION_WEBHOOK_RECEIPTS_DAYS = 14
    settings.RETENTION_DELIVERY_LOGS_DAYS = 30
    settings.RETENTION_JOB_SAMPLES_DAYS = 90
    kept_calls = [call(29), call(1)]
    for _ in range(5):
        call(31)
    kept_receipt = receipt(13, 1)
    receipt(15, 2)
    endpoint = WebhookEndpoint.objects.create(owner=user, url="https://example.com/hook", secret="whsec_x")
    pending = delivery(endpoint, 40, WebhookDelivery.Status.PENDING, 1)
    delivery(endpoint, 40, WebhookDelivery.Status.FAILED, 2)
    recent = delivery(endpoint, 10, WebhookDelivery.Status.SUCCEEDED, 3)
    kept_sample = JobSampleFactory(finished_at=timezone.now() - timedelta(days=89))
    JobSampleFactory(finished_at=timezone.now() - timedelta(days=91))
    ProbeResultFactory(window_start=timezone.now() - timedelta(days=91))

    removed = retention_prune()

    assert removed == {"provider_calls": 5, "webhook_receipts": 1, "delivery_attempts": 1, "deliveries": 1,
                       "job_samples": 1, "probe_results": 1, "breaker_transitions": 0}
    assert sorted(ProviderCall.objects.values_list("pk", flat=True)) == sorted(c.pk for c in kept_calls)
    assert list(WebhookReceipt.objects.values_list("pk", flat=True)) == [kept_receipt.pk]
    assert sorted(WebhookDelivery.objects.values_list("pk", flat=True)) == sorted([pending.pk, recent.pk])
    assert WebhookAttempt.objects.filter(delivery=pending).count() == 1
    assert list(JobSample.objects.values_list("pk", flat=True)) == [kept_sample.pk]
    assert ProbeResult.objects.count() == 0
    assert retention_prune_task() == dict.fromkeys(removed, 0)  # a second run finds nothing


def test_zero_days_keeps_a_table_for_ever(settings):
    settings.RETENTION_PROVIDER_CALLS_DAYS = 0
    call(4000)
    assert retention_prune()["provider_calls"] == 0
    assert ProviderCall.objects.count() == 1
