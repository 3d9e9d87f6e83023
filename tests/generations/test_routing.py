"""The router's own rules, independent of any one provider."""

import io
from datetime import timedelta

import pytest
from django.test import TestCase
from django.utils import timezone
from PIL import Image

from apps.catalog.models import CatalogModel
from apps.credits.models import LedgerEntry
from apps.generations import services
from apps.generations.models import Generation, Status
from apps.generations.services import dispatch, state, tracking
from apps.providers import router
from apps.providers.models import WebhookDelivery
from apps.providers.types import JobState, ProviderOutput, ProviderStatus, Route, WebhookEvent
from tests.generations.factories import GenerationFactory
from tests.generations.leases import other_worker_holding

pytestmark = pytest.mark.usefixtures("catalog")


def png(width=64, height=64, *, colour=None) -> bytes:
    """A gradient (passes the output checks), or a flat colour (does not)."""
    image = Image.new("RGB", (width, height), colour) if colour else Image.linear_gradient("L").resize((width, height)).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def ledger(generation):
    return list(LedgerEntry.objects.filter(generation=generation).order_by("id").values_list("kind", "amount"))


def test_a_route_gets_the_nearest_ratio_it_accepts_and_loses_an_unsupported_negative_prompt(user):
    generation = GenerationFactory(owner=user, model_slug="offline-studio", tier="standard",
                                   aspect_ratio="21:9", negative_prompt="circles")
    route = Route("elsewhere", "some-model", {"aspect_ratios": ["1:1", "16:9", "9:16"]})
    request, notes = router.route_request(dispatch.generation_request(generation), route)
    assert (request.aspect_ratio, request.width, request.height) == ("16:9", 1376, 768)
    assert request.negative_prompt == ""
    assert notes == [router.NEGATIVE_PROMPT_DROPPED]
    assert request.provider_model == "some-model" and request.seed == "42"

    keeps = Route("elsewhere", "other-model", {"negative_prompt": True})
    request, notes = router.route_request(dispatch.generation_request(generation), keeps)
    assert (request.aspect_ratio, request.negative_prompt, notes) == ("21:9", "circles", [])


def test_estimated_progress_rises_and_never_reaches_the_end():
    values = [tracking.estimated_progress(elapsed=t, p50=10, p95=30) for t in (0, 5, 10, 20, 30, 60, 300, 10_000)]
    assert values == sorted(values)
    assert values[0] == 0 and values[-1] == pytest.approx(0.98) and values[-2] < 0.98
    assert values[2] == pytest.approx(0.5) and values[3] == pytest.approx(0.7) and values[4] == pytest.approx(0.9)


def job(user, **fields) -> Generation:
    generation = GenerationFactory(owner=user)
    services.generation_claim(generation.id)
    Generation.objects.filter(pk=generation.pk).update(**{"provider": "replicate", "provider_job_id": "job-1", **fields})
    return generation


def test_a_webhook_is_applied_once_per_delivery_and_a_terminal_state_once_per_job(user):
    generation = job(user)
    done = ProviderStatus(JobState.SUCCEEDED, provider_job_id="job-1", outputs=(ProviderOutput(content=png()),))
    for delivery in ("d1", "d1", "d2"):  # a duplicate, then a second delivery of the same end
        with TestCase.captureOnCommitCallbacks(execute=True):  # the apply task, at commit (eager)
            services.generation_webhook_receive(provider="replicate", event=WebhookEvent(delivery, done))
    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    assert ledger(generation) == [("reserve", -1), ("capture", 0)]
    assert list(WebhookDelivery.objects.values_list("delivery_id", flat=True).order_by("delivery_id")) == ["d1", "d2"]


def test_a_webhook_for_an_unknown_job_or_another_provider_is_kept_unapplied(user):
    generation = job(user)
    status = ProviderStatus(JobState.FAILED, provider_job_id="job-1")
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.generation_webhook_receive(provider="fal", event=WebhookEvent("x", status))
        services.generation_webhook_receive(
            provider="replicate", event=WebhookEvent("y", ProviderStatus(JobState.FAILED, provider_job_id="nope"))
        )
    assert Generation.objects.get(pk=generation.pk).status == Status.DISPATCHED
    # Kept for a job whose id is not saved yet (applied when it is), never applied to another job.
    assert sorted(WebhookDelivery.objects.values_list("provider", "provider_job_id", "applied_at")) == [
        ("fal", "job-1", None), ("replicate", "nope", None)
    ]


def test_running_status_without_progress_gets_an_estimate_and_a_slow_job_gets_a_note(user):
    generation = job(user, status=Status.RUNNING, started_at=timezone.now() - timedelta(seconds=10))
    Generation.objects.filter(pk=generation.pk).update(created_at=timezone.now() - timedelta(seconds=10))
    assert services.generation_apply_provider_status(
        generation_id=generation.id, status=ProviderStatus(JobState.RUNNING, provider_job_id="job-1")
    ) is True
    generation.refresh_from_db()
    # Ten seconds into a model that typically takes three (no successes learned yet: P50 3 s, P95 6 s).
    assert 0.9 < generation.progress < 0.98
    assert generation.notes == [state.SLOW_NOTE]


def test_polling_past_the_deadline_fails_cleanly_and_releases(user):
    generation = job(user, status=Status.RUNNING, deadline_at=timezone.now() - timedelta(seconds=1), provider="offline")
    assert services.generation_poll(generation_id=generation.id) is False
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.FAILED, "timeout")
    assert generation.error_message == state.TIMEOUT_MESSAGE
    assert ledger(generation) == [("reserve", -1), ("release", 1)]


def test_a_job_whose_worker_died_while_saving_is_finished_by_the_next_delivery(user):
    generation = job(user, status=Status.FINISHING, finishing_at=timezone.now() - timedelta(minutes=3))
    done = ProviderStatus(JobState.SUCCEEDED, provider_job_id="job-1", outputs=(ProviderOutput(content=png()),))
    fresh = job(user, status=Status.FINISHING, finishing_at=timezone.now())
    services.generation_apply_result(generation_id=generation.id, status=done)
    with other_worker_holding(fresh.id):  # its own worker is still on it: it holds the job's lease
        services.generation_apply_result(generation_id=fresh.id, status=done)
    assert Generation.objects.get(pk=generation.pk).status == Status.SUCCEEDED
    assert Generation.objects.get(pk=fresh.pk).status == Status.FINISHING


def test_a_job_whose_finisher_is_gone_is_finished_at_once_by_the_next_delivery(user):
    # Saving for a few seconds only, but nobody holds its lease: the worker died (kill -9, OOM).
    generation = job(user, status=Status.FINISHING, finishing_at=timezone.now() - timedelta(seconds=5))
    done = ProviderStatus(JobState.SUCCEEDED, provider_job_id="job-1", outputs=(ProviderOutput(content=png()),))
    services.generation_apply_result(generation_id=generation.id, status=done)
    assert Generation.objects.get(pk=generation.pk).status == Status.SUCCEEDED
    assert ledger(generation) == [("reserve", -1), ("capture", 0)]


@pytest.mark.parametrize(
    "content, reason",
    [(png(colour=(200, 40, 40)), "single colour"), (png(colour=(0, 0, 0)), "single colour"),
     (png(128, 32), "expected about 512×512")],
)
def test_an_output_failing_its_checks_fails_uncharged_when_no_route_is_left(user, content, reason, caplog):
    generation = job(user, status=Status.RUNNING)
    done = ProviderStatus(JobState.SUCCEEDED, provider_job_id="job-1", outputs=(ProviderOutput(content=content),))
    services.generation_apply_result(generation_id=generation.id, status=done)
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.FAILED, "invalid_output")
    assert ledger(generation) == [("reserve", -1), ("release", 1)]
    assert any(reason in getattr(record, "reason", "") for record in caplog.records)


def test_an_output_failing_its_checks_moves_the_job_to_the_next_route(user, django_capture_on_commit_callbacks):
    CatalogModel.objects.filter(slug="offline-sketch").update(routes=[
        {"provider": "elsewhere", "model": "x"}, {"provider": "offline", "model": "procedural-sketch-v1", "max_images": 4},
    ])
    generation = job(user, status=Status.RUNNING)
    done = ProviderStatus(JobState.SUCCEEDED, provider_job_id="job-1", outputs=(ProviderOutput(content=png(colour=(9, 9, 9))),))
    with django_capture_on_commit_callbacks(execute=True):
        services.generation_apply_result(generation_id=generation.id, status=done)
    generation.refresh_from_db()
    assert (generation.status, generation.provider, generation.route_index) == (Status.SUCCEEDED, "offline", 1)
    assert generation.notes == [state.SLOW_NOTE]
    assert ledger(generation) == [("reserve", -1), ("capture", 0)]
