"""Money when a create's answer is lost or a job outlives its deadline, against the simulator.

The simulator counts what the providers would bill: `<vendor>:created` (jobs made, images billed)
and `<vendor>:canceled` (jobs stopped). Its `lost_answers` knob makes a create, then breaks the
answer off, so the client cannot know whether anything was made."""

import socket
import threading
import time
from datetime import timedelta

import pytest
from django.db import close_old_connections, transaction
from django.utils import timezone

from apps.catalog.models import CatalogModel
from apps.credits.models import LedgerEntry
from apps.credits.services import credits_reconcile
from apps.generations import services, tasks
from apps.generations.metrics import generation_metrics
from apps.generations.models import Generation, Status
from apps.generations.services import state
from apps.providers import http
from apps.providers.exceptions import ProviderAmbiguousError, ProviderRetryableError
from apps.providers.models import CircuitBreaker, ProviderCall
from apps.providers.retry import RetryPolicy, call_with_retry
from tests.providers.conftest import poll_until_done

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hooks(simulator, live_server, settings, catalog, scheduled_polls):
    """Webhooks reach the live server; a lost create's job is waited for 3 s at most."""
    settings.PROVIDER_WEBHOOK_BASE_URL = live_server.url
    settings.PROVIDER_ADOPT_WAIT_SECONDS = 3
    return simulator


def ledger(generation) -> list[tuple[str, int]]:
    return list(LedgerEntry.objects.filter(generation=generation).order_by("id").values_list("kind", "amount"))


def calls(generation) -> list[tuple[str, str, str]]:
    rows = ProviderCall.objects.filter(generation_id=generation.pk).order_by("id")
    return list(rows.values_list("provider", "operation", "outcome"))


def counts(simulator, *names) -> dict:
    stats = simulator.stats()
    return {name: stats.get(name, 0) for name in names}


def wait_for(condition, *, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def settle(simulator, generation, **webhooks: int) -> None:
    """Wait for the generation's end and for every webhook the simulator sends (a poll and a webhook
    may both be finishing it), so nothing runs on after the test."""
    wait_for(lambda: Generation.objects.get(pk=generation.pk).status in (Status.SUCCEEDED, Status.FAILED))
    for name, count in webhooks.items():
        wait_for(lambda name=name, count=count: hooks_answered(simulator, name) == count)
    generation.refresh_from_db()


def hooks_answered(simulator, vendor: str) -> int:
    return simulator.stats().get(f"{vendor}:webhook_204", 0)


MONEY = ("replicate:created", "replicate:canceled", "fal:created", "fal:canceled")


# ---------------------------------------------------------------- jobs that can be found again


def test_replicate_lost_create_answer_is_adopted_and_charged_once(hooks, user):
    hooks.knobs("replicate", lost_answers=1, job_seconds=0.4)

    # Runs at commit (eager tasks): the create's answer is lost, its `start` webhook names the job.
    generation = services.generation_create(user=user, model_slug="flux-schnell", prompt="a lighthouse", seed=3)
    poll_until_done(generation.id)

    settle(hooks, generation, replicate=2)  # start and completed
    assert (generation.status, generation.provider, generation.route_index) == (Status.SUCCEEDED, "replicate", 0)
    assert counts(hooks, *MONEY, "replicate:answer_lost") == {
        "replicate:created": 1, "replicate:canceled": 0, "fal:created": 0, "fal:canceled": 0,
        "replicate:answer_lost": 1,
    }
    assert generation.lost_answers == {"1": {
        "provider": "replicate", "model": "black-forest-labs/flux-schnell", "state": "adopted",
        "job": generation.provider_job_id,
    }}
    assert generation.route_attempts == 1
    assert calls(generation) == [("replicate", "submit", "answer_lost")]
    assert ledger(generation) == [("reserve", -1), ("capture", 0)]
    assert credits_reconcile()["provider_job_mismatches"] == []


def test_fal_lost_create_answer_is_adopted_and_charged_once(hooks, user):
    hooks.knobs("fal", lost_answers=1, job_seconds=0.3)

    # fal reports only at the end: its completion webhook names the job.
    generation = services.generation_create(user=user, model_slug="nano-banana", prompt="a lighthouse",
                                            aspect_ratio="9:16")
    poll_until_done(generation.id)

    settle(hooks, generation, fal=1)
    assert (generation.status, generation.provider) == (Status.SUCCEEDED, "fal")
    assert generation.provider_job_id.endswith("|fal-ai/nano-banana")
    assert [(image.width, image.height) for image in generation.images.all()] == [(768, 1344)]
    assert counts(hooks, *MONEY) == {"replicate:created": 0, "replicate:canceled": 0, "fal:created": 1,
                                     "fal:canceled": 0}
    assert generation.lost_answers["1"]["state"] == "adopted"
    assert generation.lost_answers["1"]["job"] == generation.provider_job_id
    assert calls(generation) == [("fal", "submit", "answer_lost")]
    assert ledger(generation) == [("reserve", -4), ("capture", 0)]


def test_a_lost_job_that_never_surfaces_moves_on_and_the_late_orphan_is_canceled(hooks, user, settings):
    settings.PROVIDER_ADOPT_WAIT_SECONDS = 0.5
    # The prediction reports (its `start` webhook) only after the wait, and is still running then.
    hooks.knobs("replicate", lost_answers=1, job_seconds=6, webhook_delay=2)
    hooks.knobs("fal", job_seconds=0.2)

    generation = services.generation_create(user=user, model_slug="flux-schnell", prompt="a lighthouse", seed=3)
    poll_until_done(generation.id)
    settle(hooks, generation, fal=1)
    assert (generation.status, generation.provider, generation.route_index) == (Status.SUCCEEDED, "fal", 1)
    assert generation.lost_answers["1"]["state"] == "abandoned"

    # The orphan's `start` arrives: it is canceled there (and reports `completed`, canceled).
    settle(hooks, generation, replicate=2)
    assert counts(hooks, *MONEY) == {"replicate:created": 1, "replicate:canceled": 1, "fal:created": 1,
                                     "fal:canceled": 0}
    orphan = generation.lost_answers["1"]
    assert (orphan["state"], orphan["provider"]) == ("canceled", "replicate")
    assert orphan["job"] != generation.provider_job_id
    assert generation.route_attempts == 2
    assert calls(generation) == [("replicate", "submit", "answer_lost"), ("fal", "submit", "ok")]
    assert ledger(generation) == [("reserve", -1), ("capture", 0)]
    assert generation.notes == [state.SLOW_NOTE]
    assert credits_reconcile()["provider_job_mismatches"] == []


def test_after_a_lost_answer_and_an_outage_the_chain_is_walked_again_without_the_lost_route(
    hooks, user, settings, monkeypatch
):
    """Every other route down: the job waits out the outage (it used to fail at once), and the walk
    after the wait skips the route whose create may have made a job."""
    settings.PROVIDER_ADOPT_WAIT_SECONDS = 0.3
    settings.GENERATION_OUTAGE_WAITS = 1
    scheduled, run_now = [], tasks.generation_run_task.apply_async

    def apply_async(args=None, kwargs=None, countdown=None, **options):
        if not countdown:
            return run_now(args, kwargs, **options)  # the submit's run, eager
        scheduled.append({"kwargs": kwargs, "countdown": countdown})  # the run after the wait: by hand

    monkeypatch.setattr(tasks.generation_run_task, "apply_async", apply_async)
    hooks.knobs("replicate", lost_answers=1, job_seconds=6, webhook_delay=2)
    hooks.knobs("fal", error_rate=1.0)
    hooks.knobs("comfyui", error_rate=1.0)

    generation = services.generation_create(user=user, model_slug="flux-schnell", prompt="a lighthouse", seed=3)
    generation.refresh_from_db()
    assert (generation.is_active, generation.outage_waits) == (True, 1)
    assert generation.lost_answers["1"]["state"] == "abandoned"
    assert scheduled == [{"kwargs": {"generation_id": str(generation.id)}, "countdown": settings.BREAKER_COOLDOWN_SECONDS}]

    hooks.knobs("fal", error_rate=0.0, job_seconds=0.2)  # the outage ends before the next try
    CircuitBreaker.objects.update(opened_at=timezone.now() - timedelta(hours=1))
    services.generation_run(generation_id=generation.id)
    poll_until_done(generation.id)
    settle(hooks, generation, fal=1, replicate=2)
    assert (generation.status, generation.provider) == (Status.SUCCEEDED, "fal")
    assert counts(hooks, *MONEY) == {"replicate:created": 1, "replicate:canceled": 1, "fal:created": 1,
                                     "fal:canceled": 0}
    assert [call for call in calls(generation) if call[0] == "replicate"] == [("replicate", "submit", "answer_lost")]
    assert ledger(generation) == [("reserve", -1), ("capture", 0)]
    assert credits_reconcile()["provider_job_mismatches"] == []


# ---------------------------------------------------------------- synchronous APIs: no job id


SYNCHRONOUS = [
    pytest.param("openai", "gpt-image-1", 6, id="openai"),
    pytest.param("stability", "stable-image-core", 3, id="stability"),
]


@pytest.mark.parametrize(("vendor", "slug", "price"), SYNCHRONOUS)
def test_a_lost_synchronous_answer_is_sent_once_more_and_recorded_as_a_possible_double_cost(
    simulator, catalog, user, vendor, slug, price
):
    simulator.knobs(vendor, lost_answers=1, job_seconds=0.1)
    generation = services.generation_create(user=user, model_slug=slug, prompt="a lighthouse")

    generation.refresh_from_db()
    assert (generation.status, generation.provider) == (Status.SUCCEEDED, vendor)
    assert counts(simulator, f"{vendor}:created", f"{vendor}:answer_lost") == {
        f"{vendor}:created": 2, f"{vendor}:answer_lost": 1
    }
    assert generation.possible_double_cost
    assert generation.lost_answers == {"2": {"provider": vendor, "model": generation.catalog_model.route_list[0].model,
                                             "state": "retried"}}
    assert generation.route_attempts == 2
    assert calls(generation) == [(vendor, "run", "answer_lost"), (vendor, "run", "ok")]
    assert ledger(generation) == [("reserve", -price), ("capture", 0)]  # the user pays once
    assert credits_reconcile()["provider_job_mismatches"] == []
    assert 'darkroom_generation_lost_answers{state="retried",window="900s"} 1' in generation_metrics()


@pytest.mark.parametrize(("vendor", "slug", "price"), SYNCHRONOUS)
def test_a_second_lost_synchronous_answer_is_never_retried_again(simulator, catalog, user, vendor, slug, price):
    simulator.knobs(vendor, lost_answers=5, job_seconds=0.1)
    generation = services.generation_create(user=user, model_slug=slug, prompt="a lighthouse")

    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.FAILED, "provider_unavailable")
    assert counts(simulator, f"{vendor}:created", f"{vendor}:answer_lost") == {
        f"{vendor}:created": 2, f"{vendor}:answer_lost": 2
    }
    assert generation.possible_double_cost
    assert calls(generation) == [(vendor, "run", "answer_lost"), (vendor, "run", "answer_lost")]
    assert ledger(generation) == [("reserve", -price), ("release", price)]


# ---------------------------------------------------------------- deadlines


def test_a_blocking_call_slow_past_the_deadline_is_cut_there_and_never_repeated(simulator, catalog, user):
    simulator.knobs("openai", job_seconds=20)
    CatalogModel.objects.filter(slug="gpt-image-1").update(deadline_seconds=2)
    started = time.monotonic()
    generation = services.generation_create(user=user, model_slug="gpt-image-1", prompt="a lighthouse")
    elapsed = time.monotonic() - started

    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.FAILED, "timeout")
    assert elapsed < 4  # cut at the deadline, not at the adapter's 180 s read timeout
    assert ledger(generation) == [("reserve", -6), ("release", 6)]
    time.sleep(1)
    assert counts(simulator, "openai:created") == {"openai:created": 1}  # no second paid call, ever
    assert not generation.possible_double_cost
    assert calls(generation) == [("openai", "run", "answer_lost")]


def test_a_job_failed_at_its_deadline_during_a_retry_after_wait_makes_no_further_call(simulator, catalog, user):
    simulator.knobs("stability", rate_limit_rate=1.0, retry_after=1.5)
    created = []

    def reaper():
        # The reaper fails (and refunds) the job at its deadline while the worker waits out the 429.
        try:
            wait_for(lambda: bool(created) and simulator.stats().get("stability:429", 0) == 1)
            time.sleep(0.3)
            Generation.objects.filter(pk=created[0]).update(deadline_at=timezone.now() - timedelta(seconds=1))
            services.generations_reap_stuck()
        finally:
            close_old_connections()

    thread = threading.Thread(target=reaper)
    thread.start()
    with transaction.atomic():  # the job runs here, in this thread, when this commits
        generation = services.generation_create(user=user, model_slug="stable-image-core", prompt="a lighthouse")
        created.append(generation.pk)
    thread.join(timeout=10)

    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.FAILED, "timeout")
    assert counts(simulator, CORE, "stability:429", "stability:created") == {
        CORE: 1, "stability:429": 1, "stability:created": 0
    }
    assert ledger(generation) == [("reserve", -3), ("release", 3)]
    assert calls(generation) == [("stability", "run", "stopped")]


def test_a_retry_after_past_the_deadline_is_not_waited(simulator, catalog, user):
    simulator.knobs("stability", rate_limit_rate=1.0, retry_after=5)
    CatalogModel.objects.filter(slug="stable-image-core").update(deadline_seconds=3)
    started = time.monotonic()
    generation = services.generation_create(user=user, model_slug="stable-image-core", prompt="a lighthouse")

    assert time.monotonic() - started < 2
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.FAILED, "provider_unavailable")
    assert counts(simulator, CORE, "stability:created") == {CORE: 1, "stability:created": 0}
    assert ledger(generation) == [("reserve", -3), ("release", 3)]


CORE = "stability:POST /stability/v2beta/stable-image/generate/core"


# ---------------------------------------------------------------- refused vs ambiguous


def test_a_refused_connection_is_retried_and_a_lost_answer_is_not(simulator, settings):
    policy = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.01)
    tries = []

    def post(base_url: str) -> None:
        tries.append(base_url)
        with http.client(base_url=base_url, headers={"Authorization": "Bearer sk-simulated"}) as client:
            http.send(client, "POST", "/images/generations",
                      json={"model": "gpt-image-1", "prompt": "a lighthouse", "size": "1024x1024"})

    with socket.socket() as sock:  # a port nobody listens on: nothing can have been sent
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(ProviderRetryableError) as refused:
        call_with_retry(lambda: post(closed), policy)
    assert not isinstance(refused.value, ProviderAmbiguousError)
    assert len(tries) == 3

    tries.clear()
    simulator.knobs("openai", lost_answers=1, job_seconds=0)
    with pytest.raises(ProviderAmbiguousError):
        call_with_retry(lambda: post(settings.OPENAI_BASE_URL), policy)
    assert len(tries) == 1
    assert counts(simulator, "openai:created", "openai:answer_lost") == {"openai:created": 1, "openai:answer_lost": 1}
