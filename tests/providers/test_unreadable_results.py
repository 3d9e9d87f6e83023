"""A provider that says a job finished but whose result can't be read: after
GENERATION_RESULT_READ_ATTEMPTS failed reads the route has failed, whatever the adapter. The job
there is canceled, the route counts against its breakers, the next route delivers, and the user is
charged once; with no route left the job fails, released in full.

FLUX Schnell is routed here as fal first, then Replicate; fal's result endpoint answers 500 with no
error type after the status said COMPLETED (the simulator's `result_500`)."""

import time

import pytest
from django.utils import timezone

from apps.catalog.models import CatalogModel
from apps.credits.models import LedgerEntry
from apps.credits.selectors import credits_balance_get
from apps.generations import services
from apps.generations.models import Generation, Status
from apps.generations.services import state
from apps.providers import router
from apps.providers.adapters.fal import FalQueueAdapter
from apps.providers.exceptions import ProviderResultUnreadableError
from apps.providers.models import CircuitBreaker
from apps.providers.types import GenerationRequest
from tests.providers.conftest import poll_until_done

FAL_ROUTE = {"provider": "fal", "model": "fal-ai/flux/schnell", "max_images": 4}
REPLICATE_ROUTE = {
    "provider": "replicate", "model": "black-forest-labs/flux-schnell", "max_images": 4,
    "size": "aspect_ratio",
}
FAL_SUBMIT = "fal:POST /fal/fal-ai/flux/schnell"
FAL_JOBS = "/fal/fal-ai/flux/requests/"
REPLICATE_CREATE = "replicate:POST /replicate/v1/models/black-forest-labs/flux-schnell/predictions"


@pytest.fixture
def unreadable_fal(simulator, catalog, scheduled_polls):
    simulator.knobs("fal", job_seconds=0.1, output_variant="result_500")
    simulator.knobs("replicate", job_seconds=0.1)
    return simulator


def routes(*chain) -> None:
    CatalogModel.objects.filter(slug="flux-schnell").update(routes=list(chain))


def fal_calls(simulator) -> dict[str, int]:
    """fal's result reads and cancels, by kind (status polls left out)."""
    calls = {"result": 0, "cancel": 0}
    for name, count in simulator.stats().items():
        if name.startswith(f"fal:PUT {FAL_JOBS}") and name.endswith("/cancel"):
            calls["cancel"] += count
        elif name.startswith(f"fal:GET {FAL_JOBS}") and not name.endswith("/status"):
            calls["result"] += count
    return calls


def ledger(generation) -> list[tuple[str, int]]:
    entries = LedgerEntry.objects.filter(generation=generation).order_by("id")
    return list(entries.values_list("kind", "amount"))


def breaker_failures(prefix: str) -> dict[str, tuple[str, int]]:
    return {
        key: (state_, failures)
        for key, state_, failures in CircuitBreaker.objects.filter(key__startswith=prefix)
        .values_list("key", "state", "consecutive_failures")
    }


def run_and_follow(user, django_capture_on_commit_callbacks) -> Generation:
    generation = services.generation_create(user=user, model_slug="flux-schnell", prompt="a lighthouse")
    # On commit: the reroute's run of the next route (eager here), which schedules its polls.
    with django_capture_on_commit_callbacks(execute=True):
        services.generation_run(generation_id=generation.id)
        poll_until_done(generation.id)
    generation.refresh_from_db()
    if generation.is_active:  # on the next route now
        poll_until_done(generation.id)
        generation.refresh_from_db()
    return generation


def test_the_adapter_and_the_router_say_finished_but_unreadable(unreadable_fal):
    adapter = FalQueueAdapter()
    submitted = adapter.submit(GenerationRequest(
        job_id="gen-1", provider_model="fal-ai/flux/schnell", prompt="a lighthouse", width=1024, height=1024,
    ))
    deadline = time.monotonic() + 5
    with pytest.raises(ProviderResultUnreadableError) as raised:
        while time.monotonic() < deadline:  # queued, running, then COMPLETED: the result read fails
            adapter.poll(submitted.provider_job_id)
            time.sleep(0.02)
    assert (raised.value.extra, raised.value.retry_after) == ({"status": 500}, None)
    assert router.job_poll("fal", submitted.provider_job_id) == router.Unreadable()
    assert fal_calls(unreadable_fal) == {"result": 2, "cancel": 0}


def test_a_finished_job_whose_result_cannot_be_read_fails_over_and_is_charged_once(
    unreadable_fal, user, django_capture_on_commit_callbacks
):
    routes(FAL_ROUTE, REPLICATE_ROUTE)
    started = timezone.now()

    generation = run_and_follow(user, django_capture_on_commit_callbacks)

    assert (generation.status, generation.provider) == (Status.SUCCEEDED, "replicate")
    assert generation.route_index == 1
    assert (generation.error_code, generation.result_read_failures) == ("", 0)
    assert generation.notes == [state.SLOW_NOTE]
    assert generation.images.count() == 1
    assert (timezone.now() - started).total_seconds() < 10  # seconds, not the 300 s deadline
    # fal: one job, its result read three times, then canceled (it answers ALREADY_COMPLETED).
    assert unreadable_fal.stats()[FAL_SUBMIT] == 1
    assert fal_calls(unreadable_fal) == {"result": 3, "cancel": 1}
    # Replicate: one job, which delivered; nothing canceled there.
    assert unreadable_fal.stats()[REPLICATE_CREATE] == 1
    assert not [name for name in unreadable_fal.stats() if name.startswith("replicate:") and "cancel" in name]
    # The failed route counts against both of fal's breakers, once.
    assert breaker_failures("fal") == {"fal": ("closed", 1), "fal:fal-ai/flux/schnell": ("closed", 1)}
    assert ledger(generation) == [("reserve", -1), ("capture", 0)]
    assert credits_balance_get(user=user) == 99


def test_with_no_route_left_the_job_fails_and_is_released_in_full(
    unreadable_fal, user, django_capture_on_commit_callbacks
):
    routes(FAL_ROUTE)

    generation = run_and_follow(user, django_capture_on_commit_callbacks)

    assert (generation.status, generation.error_code) == (Status.FAILED, "result_unavailable")
    assert generation.error_message == state.RESULT_UNREADABLE_MESSAGE
    assert "fal" not in generation.error_message.lower()
    assert unreadable_fal.stats()[FAL_SUBMIT] == 1
    assert fal_calls(unreadable_fal) == {"result": 3, "cancel": 1}
    assert breaker_failures("fal") == {"fal": ("closed", 1), "fal:fal-ai/flux/schnell": ("closed", 1)}
    assert ledger(generation) == [("reserve", -1), ("release", 1)]
    assert credits_balance_get(user=user) == 100


def test_the_read_limit_comes_from_settings(
    unreadable_fal, user, settings, django_capture_on_commit_callbacks
):
    settings.GENERATION_RESULT_READ_ATTEMPTS = 5
    routes(FAL_ROUTE)

    generation = run_and_follow(user, django_capture_on_commit_callbacks)

    assert (generation.status, generation.error_code) == (Status.FAILED, "result_unavailable")
    assert fal_calls(unreadable_fal) == {"result": 5, "cancel": 1}
    assert ledger(generation) == [("reserve", -1), ("release", 1)]
