"""Tracking a generation at its provider: polls and webhooks feed one `apply_provider_status`;
progress comes from the provider or is estimated from the model's P50/P95 time to result, learned
from its recent successes (apps.ops)."""

import math
from dataclasses import replace

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core import leases
from apps.ops.selectors.latency import model_time_to_result
from apps.providers import router
from apps.providers.exceptions import ProviderBlockedError, ProviderError
from apps.providers.face_swap import NO_FACE_CODE, no_face_message_from
from apps.providers.models import WebhookDelivery
from apps.providers.services import status_from_json, status_to_json
from apps.providers.types import JobState, ProviderStatus, WebhookEvent

from .. import tasks
from ..models import Generation, Status
from . import finishing, lost_answers
from .state import (
    ALL_ROUTES_DOWN_MESSAGE,
    RESULT_UNREADABLE_MESSAGE,
    SLOW_NOTE,
    TIMEOUT_MESSAGE,
    announce_progress,
    generation_add_note,
)


def generation_poll(*, generation_id) -> bool:
    """Ask the provider how a job is doing. Returns True while it should be asked again."""
    generation = Generation.objects.select_related("catalog_model").filter(pk=generation_id).first()
    if generation is None or not generation.provider_job_id:
        return False
    if generation.status not in (Status.DISPATCHED, Status.RUNNING):
        return False
    if generation.deadline_at and timezone.now() >= generation.deadline_at:
        router.job_cancel(generation.provider, generation.provider_job_id)
        finishing.generation_fail(generation_id=generation_id, code="timeout", message=TIMEOUT_MESSAGE)
        return False
    match router.job_poll(generation.provider, generation.provider_job_id):
        case router.Polled(status=status):
            return generation_apply_provider_status(generation_id=generation_id, status=status)
        case router.PollAgain():
            return True  # the provider is flaky: the job may still be fine, ask again
        case router.Unreadable():
            return generation_result_unreadable(generation_id=generation_id,
                                                provider_job_id=generation.provider_job_id)
        case router.Lost():
            finishing.generation_fail(generation_id=generation_id, code="provider_unavailable",
                                      message=ALL_ROUTES_DOWN_MESSAGE)
        case router.Failed(code=code, message=message):
            finishing.generation_fail(generation_id=generation_id, code=code, message=message)
    return False


def generation_result_unreadable(*, generation_id, provider_job_id: str) -> bool:
    """The provider says the job finished, but reading its result failed. After
    GENERATION_RESULT_READ_ATTEMPTS failed reads of this job's result the route has failed: the job
    there is canceled (where the provider still can), the route counts against its breakers and the
    generation moves to the next route, or fails uncharged with none left. True: ask again."""
    job = Generation.objects.filter(pk=generation_id, provider_job_id=provider_job_id, status=Status.RUNNING)
    if not job.update(result_read_failures=F("result_read_failures") + 1):
        return False  # it moved on meanwhile (canceled, ended, another route)
    failures, provider = job.values_list("result_read_failures", "provider").get()
    if failures < settings.GENERATION_RESULT_READ_ATTEMPTS:
        return True
    router.job_cancel(provider, provider_job_id)
    finishing.generation_reroute(generation_id=generation_id, code="result_unavailable",
                                 message=RESULT_UNREADABLE_MESSAGE)
    return False


def generation_apply_provider_status(*, generation_id, status: ProviderStatus) -> bool:
    """What a poll or a webhook learned. Returns True while the job is still going."""
    if status.state.is_terminal:
        generation_apply_result(generation_id=generation_id, status=status)
        return False
    generation = Generation.objects.select_related("catalog_model").filter(pk=generation_id).first()
    if generation is None or not generation.is_active:
        return False
    progress = status.progress
    if progress is None and status.state == JobState.RUNNING and generation.started_at:
        expected = model_time_to_result(model_slug=generation.catalog_model.slug,
                                        typical_seconds=generation.catalog_model.typical_seconds)
        progress = estimated_progress(
            elapsed=(timezone.now() - generation.created_at).total_seconds(), p50=expected.p50, p95=expected.p95,
        )
    if progress is not None:
        generation_apply_progress(generation_id=generation_id, status=replace(status, progress=progress))
    typical = generation.catalog_model.typical_seconds
    if generation.started_at and (timezone.now() - generation.started_at).total_seconds() > 3 * typical:
        generation_add_note(generation_id, SLOW_NOTE)
    return True


def generation_webhook_receive(*, provider: str, event: WebhookEvent, generation_id=None,
                               attempt: int | None = None) -> bool:
    """A verified webhook: stored once per delivery and applied by a task after commit, so the
    provider never waits on our downloads. False for a duplicate or a replay.

    Our webhook URLs name the generation and route attempt they were made for. A delivery naming a
    job we never heard of, sent for an attempt whose create answer was lost, is that create's job:
    it is adopted (or, once the generation moved on, canceled as an orphan) here, at receive time,
    so the run waiting to adopt it sees it at once (lost_answers); the delivery itself is kept and
    applied when the adopted job's id is saved. Any other delivery for an unknown job is kept,
    unapplied, for a job whose id is not saved yet."""
    job_id = event.status.provider_job_id
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                provider=provider, delivery_id=event.delivery_id, provider_job_id=job_id,
                status=status_to_json(event.status),
            )
            transaction.on_commit(lambda: tasks.generation_webhook_apply_task.delay(delivery_id=delivery.pk))
        stored = True
    except IntegrityError:
        stored = False  # a duplicate or a replay (a lost create's job is still looked at: that is idempotent)
    if generation_id and attempt and not _job_generation(provider, job_id):
        lost_answers.generation_job_surfaced(generation_id=generation_id, attempt=attempt, provider=provider,
                                             named_id=job_id)
    return stored


def _job_generation(provider: str, job_id: str):
    """The generation whose saved job id is `job_id`, if any. A job id may carry routing details
    after a "|" that the provider's webhooks do not repeat (fal's is "<request_id>|<owner/app>"):
    webhooks name the job by the part before it."""
    return Generation.objects.filter(
        Q(provider_job_id=job_id) | Q(provider_job_id__startswith=f"{job_id}|"), provider=provider
    ).values_list("pk", flat=True).first()


def generation_webhook_apply(*, delivery_id) -> bool:
    """Apply a stored delivery to the job it names. One naming a job whose id is not saved yet (the
    provider called back before its create answer reached us, or a lost create's job being adopted)
    waits: `generation_mark_running` applies it when the id is saved. False when another worker
    holds the job: try again shortly."""
    delivery = WebhookDelivery.objects.filter(pk=delivery_id, applied_at__isnull=True).first()
    if delivery is None:
        return True
    generation_id = _job_generation(delivery.provider, delivery.provider_job_id)
    return generation_id is None or generation_webhooks_apply(generation_id=generation_id)


def generation_webhooks_apply(*, generation_id) -> bool:
    """Apply the job's stored deliveries not applied yet, oldest first, each once (claimed by a
    conditional update). False, applying nothing, while another worker holds the job (a poll or
    the run, which follow the job too)."""
    generation = Generation.objects.filter(pk=generation_id).only("provider", "provider_job_id").first()
    if generation is None or not generation.provider_job_id:
        return True
    job_ids = {generation.provider_job_id, generation.provider_job_id.split("|", 1)[0]}
    pending = WebhookDelivery.objects.filter(
        provider=generation.provider, provider_job_id__in=job_ids, applied_at__isnull=True
    ).order_by("received_at", "pk")
    if not pending.exists():
        return True
    with leases.lease(generation_id) as held:
        if not held:
            return False
        for delivery in pending:
            claimed = WebhookDelivery.objects.filter(pk=delivery.pk, applied_at__isnull=True).update(
                applied_at=timezone.now()
            )
            if claimed:
                generation_apply_provider_status(generation_id=generation_id, status=status_from_json(delivery.status))
    return True


def generation_apply_progress(*, generation_id, status: ProviderStatus) -> None:
    """Progress and a preview while running. Cheap: one conditional update, no lock."""
    progress = min(max(status.progress or 0.0, 0.0), 0.99)
    updated = Generation.objects.filter(
        pk=generation_id, status=Status.RUNNING, progress__lte=progress
    ).update(progress=progress, revision=F("revision") + 1, updated_at=timezone.now())
    if updated:
        generation = Generation.objects.select_related("catalog_model").get(pk=generation_id)
        announce_progress(generation, preview=status.preview)


def generation_apply_result(*, generation_id, status: ProviderStatus) -> None:
    """Apply a provider's terminal status, exactly once whoever reports it first."""
    if status.state == JobState.SUCCEEDED:
        finishing.generation_finish(generation_id=generation_id, status=status)
    elif status.state == JobState.BLOCKED:
        finishing.generation_reject(generation_id=generation_id, message=ProviderBlockedError.default_message)
    elif status.state == JobState.FAILED:
        message = ProviderError.default_message
        if status.error_code == NO_FACE_CODE:  # a face swap's photo shows no face: say which
            message = no_face_message_from(status.error_message)
        finishing.generation_fail(generation_id=generation_id, code=status.error_code or "provider_error",
                                  message=message)
    elif status.state == JobState.CANCELED:
        finishing.generation_fail(generation_id=generation_id, code="provider_canceled",
                                  message=ProviderError.default_message)


def estimated_progress(*, elapsed: float, p50: float, p95: float) -> float:
    """Progress for a provider that reports none, from the seconds since submit and the model's P50
    and P95 time to result: a curve that rises fast then slows to 50 % at the P50, climbs to 90 % at
    the P95, then creeps toward 98 % without ever getting there (never "done" before it is)."""
    elapsed = max(elapsed, 0.0)
    p50 = max(p50, 0.1)
    p95 = max(p95, p50 * 1.05)
    if elapsed <= p50:
        return 0.5 * (1 - math.exp(-elapsed / p50)) / (1 - math.exp(-1))
    if elapsed <= p95:
        return 0.5 + 0.4 * (elapsed - p50) / (p95 - p50)
    return 0.9 + 0.08 * (1 - math.exp(-(elapsed - p95) / (p95 - p50)))
