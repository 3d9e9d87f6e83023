from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from apps.catalog.models import CatalogModel
from apps.core.exceptions import NotFoundError
from apps.credits.models import LedgerEntry
from apps.credits.selectors import credits_balance_get
from apps.generations import services
from apps.generations.exceptions import InvalidGenerationError, ModelUnavailableError, NotCancelableError
from apps.generations.models import Generation, GenerationImage, Status
from apps.generations.services import dispatch, tracking
from apps.providers.types import JobState, ProviderOutput, ProviderStatus, Route
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")


def ledger(generation):
    return list(LedgerEntry.objects.filter(generation=generation).order_by("id").values_list("kind", "amount"))


def test_create_validates_quotes_reserves_and_queues(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        generation = services.generation_create(
            user=user, model_slug="offline-studio", prompt="  a harbour at dawn ", negative_prompt="circle",
            aspect_ratio="16:9", tier="large", num_images=2, seed="18446744073709551615",
        )
    generation.refresh_from_db()
    assert generation.status == Status.QUEUED
    assert generation.prompt == "a harbour at dawn"
    assert generation.seed == "18446744073709551615"
    assert generation.params == {
        "aspect_ratio": "16:9", "tier": "large", "width": 2048, "height": 1152, "num_images": 2,
    }
    assert generation.quoted_credits == 12
    assert ledger(generation) == [("reserve", -12)]
    assert credits_balance_get(user=user) == 88
    assert len(callbacks) == 2  # the task enqueue and the live update


def test_defaults_are_the_models_first_ratio_and_tier_and_a_random_seed(user):
    generation = services.generation_create(user=user, model_slug="offline-sketch", prompt="fog")
    assert (generation.params["aspect_ratio"], generation.params["tier"]) == ("1:1", "draft")
    assert generation.seed.isdigit()


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"prompt": "   "}, "prompt", "Describe the image you want in the prompt."),
        ({"prompt": "x" * 2001}, "prompt", "The prompt is too long: at most 2000 characters."),
        ({"negative_prompt": "blur"}, "negative_prompt", "Offline Sketch does not take a negative prompt."),
        ({"aspect_ratio": "2:1"}, "aspect_ratio", "Offline Sketch offers these aspect ratios: 1:1, 4:3, 3:4, 16:9, 9:16."),
        ({"tier": "huge"}, "tier", "Offline Sketch offers these sizes: draft, standard."),
        ({"num_images": 5}, "num_images", "Offline Sketch makes 1 to 4 images at a time."),
        ({"num_images": 0}, "num_images", "Offline Sketch makes 1 to 4 images at a time."),
        ({"seed": "-1"}, "seed", "The seed must be a whole number from 0 to 18446744073709551615."),
        ({"seed": "18446744073709551616"}, "seed", "The seed must be a whole number from 0 to 18446744073709551615."),
        ({"model_slug": "nope"}, "model", "Choose a model from the catalogue."),
    ],
)
def test_invalid_requests_are_refused_before_anything_happens(user, fields, field, message):
    request = {"model_slug": "offline-sketch", "prompt": "a cat", **fields}
    with pytest.raises(InvalidGenerationError) as raised:
        services.generation_create(user=user, **request)
    assert (raised.value.extra["field"], raised.value.message) == (field, message)
    assert Generation.objects.count() == 0
    assert credits_balance_get(user=user) == 100


def test_disabled_and_unconfigured_models_are_refused(user):
    CatalogModel.objects.filter(slug="offline-studio").update(is_enabled=False, disabled_reason="Back tomorrow.")
    with pytest.raises(ModelUnavailableError, match="Offline Studio is unavailable: Back tomorrow."):
        services.generation_create(user=user, model_slug="offline-studio", prompt="a cat")
    with pytest.raises(ModelUnavailableError, match="provider is not configured"):
        services.generation_create(user=user, model_slug="flux-pro", prompt="a cat")
    assert Generation.objects.count() == 0


def test_run_stores_the_images_and_captures_the_hold(user):
    generation = GenerationFactory(owner=user, num_images=2, tier="draft")
    services.generation_run(generation_id=generation.id)

    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    assert generation.progress == 1.0
    assert generation.dispatched_at <= generation.started_at <= generation.finishing_at <= generation.finished_at
    images = list(GenerationImage.objects.filter(generation=generation))
    assert [image.index for image in images] == [0, 1]
    for image in images:
        assert image.file == f"generations/{user.pk}/{generation.id}/{image.index}.png"
        with default_storage.open(image.file) as original:
            assert Image.open(original).size == (512, 512) == (image.width, image.height)
        with default_storage.open(image.thumbnail) as thumbnail:
            assert Image.open(thumbnail).format == "WEBP"
    assert ledger(generation) == [("reserve", -2), ("capture", 0)]
    assert credits_balance_get(user=user) == 98


def test_running_twice_does_the_work_once(user):
    generation = GenerationFactory(owner=user)
    services.generation_run(generation_id=generation.id)
    revision = Generation.objects.get(pk=generation.pk).revision
    services.generation_run(generation_id=generation.id)
    assert Generation.objects.get(pk=generation.pk).revision == revision
    assert GenerationImage.objects.filter(generation=generation).count() == 1
    assert ledger(generation) == [("reserve", -1), ("capture", 0)]


def test_an_engine_failure_fails_cleanly_and_returns_the_credits(user, settings):
    settings.OFFLINE_ENGINE_FAILURE_RATE = 1.0
    generation = GenerationFactory(owner=user)
    services.generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.status == Status.FAILED
    assert generation.error_code == "engine_failure"
    assert generation.error_message == "The offline engine failed while drawing this image. You were not charged."
    assert ledger(generation) == [("reserve", -1), ("release", 1)]
    assert credits_balance_get(user=user) == 100


def test_an_unexpected_crash_in_the_task_still_ends_the_job_and_releases(user, monkeypatch):
    from apps.generations import storage, tasks

    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(storage, "generation_outputs_store", broken)
    generation = GenerationFactory(owner=user)
    tasks.generation_run_task(generation_id=str(generation.id))
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.FAILED, "internal_error")
    assert "disk" not in generation.error_message
    assert ledger(generation) == [("reserve", -1), ("release", 1)]


def start(generation):
    """Claim the job and mark it running, as a worker does before calling its route."""
    services.generation_claim(generation.id)
    dispatch.generation_mark_running(generation.id, route_index=0, route=Route("offline", "procedural-sketch-v1"))


def test_an_output_that_does_not_decode_fails_the_job_uncharged(user):
    generation = GenerationFactory(owner=user)
    start(generation)
    services.generation_apply_result(
        generation_id=generation.id,
        status=ProviderStatus(state=JobState.SUCCEEDED, outputs=(ProviderOutput(content=b"<html>not an image"),)),
    )
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.FAILED, "invalid_output")
    assert ledger(generation) == [("reserve", -1), ("release", 1)]


def test_a_blocked_result_is_rejected_and_not_charged(user):
    generation = GenerationFactory(owner=user)
    start(generation)
    services.generation_apply_result(generation_id=generation.id, status=ProviderStatus(state=JobState.BLOCKED))
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.REJECTED, "content_blocked")
    assert generation.error_message == "This request was blocked by the content safety filter. You were not charged."
    assert ledger(generation) == [("reserve", -1), ("release", 1)]


def test_progress_only_moves_forward_and_only_while_running(user):
    generation = GenerationFactory(owner=user)
    services.generation_apply_progress(generation_id=generation.id, status=ProviderStatus(JobState.RUNNING, progress=0.5))
    assert Generation.objects.get(pk=generation.pk).progress == 0  # still queued
    start(generation)
    services.generation_apply_progress(generation_id=generation.id, status=ProviderStatus(JobState.RUNNING, progress=0.5))
    services.generation_apply_progress(generation_id=generation.id, status=ProviderStatus(JobState.RUNNING, progress=0.3))
    assert Generation.objects.get(pk=generation.pk).progress == 0.5
    services.generation_apply_progress(generation_id=generation.id, status=ProviderStatus(JobState.RUNNING, progress=1.0))
    assert Generation.objects.get(pk=generation.pk).progress == 0.99  # 100 % only when stored


def test_cancel_releases_once_and_a_finished_job_cannot_be_canceled(user):
    generation = GenerationFactory(owner=user)
    services.generation_cancel(user=user, generation_id=generation.id)
    services.generation_cancel(user=user, generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.status == Status.CANCELED and generation.finished_at is not None
    assert ledger(generation) == [("reserve", -1), ("release", 1)]
    services.generation_run(generation_id=generation.id)  # a late task changes nothing
    assert Generation.objects.get(pk=generation.pk).status == Status.CANCELED

    done = GenerationFactory(owner=user)
    services.generation_run(generation_id=done.id)
    with pytest.raises(NotCancelableError):
        services.generation_cancel(user=user, generation_id=done.id)
    assert ledger(done) == [("reserve", -1), ("capture", 0)]


def test_cancel_while_running_stops_the_engine(user, settings, monkeypatch):
    settings.OFFLINE_ENGINE_STEPS = 8
    generation = GenerationFactory(owner=user)
    calls = []

    def cancel_on_second_step(*, generation_id, status):
        calls.append(status.progress)
        if len(calls) == 2:
            services.generation_cancel(user=user, generation_id=generation_id)

    monkeypatch.setattr(tracking, "generation_apply_progress", cancel_on_second_step)
    services.generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.status == Status.CANCELED
    assert len(calls) == 2
    assert GenerationImage.objects.filter(generation=generation).count() == 0
    assert ledger(generation) == [("reserve", -1), ("release", 1)]


def test_nobody_cancels_another_users_generation(user, other_user):
    generation = GenerationFactory(owner=user)
    with pytest.raises(NotFoundError):
        services.generation_cancel(user=other_user, generation_id=generation.id)
    with pytest.raises(NotFoundError):
        services.generation_cancel(user=other_user, generation_id="not-a-uuid")
    assert Generation.objects.get(pk=generation.pk).status == Status.QUEUED


def test_the_reaper_fails_expired_jobs_and_resends_lost_ones(user, django_capture_on_commit_callbacks):
    expired = GenerationFactory(owner=user)
    lost = GenerationFactory(owner=user)
    fresh = GenerationFactory(owner=user)
    assert abs((fresh.deadline_at - fresh.created_at) - timedelta(seconds=300)) < timedelta(seconds=1)
    Generation.objects.filter(pk=expired.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    Generation.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - timedelta(minutes=3), updated_at=timezone.now() - timedelta(minutes=3)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert services.generations_reap_stuck() == {"failed": 1, "redriven": 1}

    assert Generation.objects.get(pk=expired.pk).status == Status.FAILED
    assert Generation.objects.get(pk=expired.pk).error_code == "timeout"
    assert ledger(expired) == [("reserve", -1), ("release", 1)]
    assert Generation.objects.get(pk=lost.pk).status == Status.SUCCEEDED  # the eager worker ran it
    assert Generation.objects.get(pk=fresh.pk).status == Status.QUEUED


def test_every_change_is_published_to_the_owner_after_commit(user, django_capture_on_commit_callbacks):
    import asyncio
    import json

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from apps.realtime.groups import user_group

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(user.pk), channel)
    with django_capture_on_commit_callbacks(execute=True):
        generation = GenerationFactory(owner=user)
        services.generation_run(generation_id=generation.id)

    async def drain():
        received = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=0.5)
            except TimeoutError:
                return received
            received.append(json.loads(message["text"]))

    messages = async_to_sync(drain)()
    # The judges' verdict follows the end as its own message (the card with its badge).
    assert messages[-1]["type"] == "generation.reviewed"
    assert messages[-1]["data"]["images"][0]["review"]["verdict"] in ("green", "amber", "red")
    messages = messages[:-1]
    types = [m["type"] for m in messages]
    progress = [m["data"]["progress"] for m in messages]
    # queued, running, three step updates (4 steps, the last is the result), succeeded: the offline
    # engine runs while the worker waits, so neither "dispatched" nor a finishing moment is shown
    assert types == ["generation.progress"] * 5 + ["generation.succeeded"]
    assert [m["data"]["status"] for m in messages] == [
        "queued", "running", "running", "running", "running", "succeeded",
    ]
    assert progress == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0]
    assert [m["data"]["revision"] for m in messages] == sorted(m["data"]["revision"] for m in messages)
    assert "data:image/jpeg;base64," in messages[2]["html"]
    assert 'class="result"' in messages[-1]["html"]
    assert '<span class="balance-value">99</span>' in messages[-1]["html"]
    assert all(m["data"]["id"] == str(generation.id) for m in messages)
