"""A job with every route down waits GENERATION_OUTAGE_WAITS breaker cooldowns before it fails. One
owner schedules its next attempt: the reaper leaves it alone while that attempt is pending, and
recovers it only once the attempt is overdue (a lost wake-up).

FLUX Schnell is routed here as Replicate alone, which answers every create with a 429 (retried
once by the adapter, after the 0.01 s it asks for). A small broker stands in for Celery: a task
sent with a countdown waits for its time; one sent without (the reaper's re-drive) runs at once."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.catalog.models import CatalogModel
from apps.credits.models import LedgerEntry
from apps.credits.selectors import credits_balance_get
from apps.generations import recovery, services, tasks
from apps.generations.models import Generation, Status
from apps.generations.services import state
from tests.providers.conftest import poll_until_done

COOLDOWN = 1.2
# The reaper's window for a job nobody holds: shorter than a cooldown, as in production (15 s vs 30 s).
STUCK_AFTER = timedelta(seconds=0.5)
REPLICATE_CREATE = "replicate:POST /replicate/v1/models/black-forest-labs/flux-schnell/predictions"
REPLICATE_ROUTE = {
    "provider": "replicate", "model": "black-forest-labs/flux-schnell", "max_images": 4,
    "size": "aspect_ratio",
}


class Broker:
    def __init__(self, capture):
        self.capture = capture
        self.timers: list[tuple[float, dict]] = []

    def apply_async(self, *, kwargs, countdown=None, priority=None):
        if countdown:
            self.timers.append((time.monotonic() + countdown, kwargs))
        else:
            self.run(kwargs)

    def run(self, kwargs) -> None:
        with self.capture(execute=True):
            tasks.generation_run_task(**kwargs)

    def fire_due(self) -> int:
        due = [timer for timer in self.timers if timer[0] <= time.monotonic()]
        self.timers = [timer for timer in self.timers if timer not in due]
        for _, kwargs in due:
            self.run(kwargs)
        return len(due)


@pytest.fixture
def outage(simulator, catalog, settings, scheduled_polls, monkeypatch, django_capture_on_commit_callbacks):
    settings.BREAKER_COOLDOWN_SECONDS = COOLDOWN
    settings.BREAKER_FAILURE_THRESHOLD = 100  # every attempt reaches the provider: calls are countable
    monkeypatch.setattr(recovery, "STUCK_AFTER", STUCK_AFTER)
    simulator.knobs("replicate", job_seconds=0.1, rate_limit_rate=1.0, retry_after=0.01)
    CatalogModel.objects.filter(slug="flux-schnell").update(routes=[REPLICATE_ROUTE])
    broker = Broker(django_capture_on_commit_callbacks)
    monkeypatch.setattr(tasks.generation_run_task, "apply_async", broker.apply_async)
    return broker


def reap(capture) -> dict:
    with capture(execute=True):
        return services.generations_reap_stuck()


def ledger(generation) -> list[tuple[str, int]]:
    entries = LedgerEntry.objects.filter(generation=generation).order_by("id")
    return list(entries.values_list("kind", "amount"))


def test_every_route_down_fails_only_after_its_waits_with_the_reaper_running(
    outage, simulator, user, settings, django_capture_on_commit_callbacks
):
    waits = settings.GENERATION_OUTAGE_WAITS = 2
    generation = services.generation_create(user=user, model_slug="flux-schnell", prompt="a lighthouse")
    started = time.monotonic()
    outage.run({"generation_id": str(generation.id)})
    generation.refresh_from_db()
    assert (generation.status, generation.outage_waits, len(outage.timers)) == (Status.DISPATCHED, 1, 1)

    # A stray copy of the run (a redelivery) before the attempt is due leaves the job to that attempt.
    outage.run({"generation_id": str(generation.id)})
    assert Generation.objects.get(pk=generation.id).outage_waits == 1
    assert simulator.stats()[REPLICATE_CREATE] == 2

    reaped, fired = [], 0
    while Generation.objects.filter(pk=generation.id, status=Status.DISPATCHED).exists():
        assert time.monotonic() - started < 10, "the job never ended"
        fired += outage.fire_due()
        reaped.append(reap(django_capture_on_commit_callbacks))
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    generation.refresh_from_db()

    assert (generation.status, generation.error_code) == (Status.FAILED, "provider_unavailable")
    assert generation.error_message == state.ALL_ROUTES_DOWN_MESSAGE
    assert (generation.outage_waits, generation.next_attempt_at) == (waits, None)
    assert elapsed >= waits * COOLDOWN  # every cooldown waited out
    assert fired == waits
    assert len(reaped) >= 4 * waits  # the reaper ran throughout …
    assert {result["redriven"] for result in reaped} == {0}  # … and never re-drove the waiting job
    # One attempt per wait and the first: each a create and the adapter's one retry, all refused (429).
    assert simulator.stats()[REPLICATE_CREATE] == 2 * (waits + 1)
    assert simulator.stats()["replicate:429"] == 2 * (waits + 1)
    assert ledger(generation) == [("reserve", -1), ("release", 1)]
    assert credits_balance_get(user=user) == 100


def test_a_lost_wake_up_is_recovered_once_it_is_overdue(
    outage, simulator, user, settings, django_capture_on_commit_callbacks
):
    settings.GENERATION_OUTAGE_WAITS = 1
    generation = services.generation_create(user=user, model_slug="flux-schnell", prompt="a lighthouse")
    outage.run({"generation_id": str(generation.id)})
    generation.refresh_from_db()
    due = generation.next_attempt_at
    assert (generation.status, generation.outage_waits, len(outage.timers)) == (Status.DISPATCHED, 1, 1)
    outage.timers.clear()  # the scheduled attempt is lost (a broker restart)
    simulator.knobs("replicate", rate_limit_rate=0.0)  # and the outage ends

    reaped = []
    while not (reaped and reaped[-1]["redriven"]):
        assert len(reaped) < 200, "the job was never recovered"
        reaped.append(reap(django_capture_on_commit_callbacks))
        time.sleep(0.05)
    recovered_at = timezone.now()
    poll_until_done(generation.id)
    generation.refresh_from_db()

    assert [result["redriven"] for result in reaped].count(1) == 1
    assert recovered_at - due >= STUCK_AFTER  # only once its attempt was overdue
    assert (generation.status, generation.provider) == (Status.SUCCEEDED, "replicate")
    assert generation.next_attempt_at is None
    # The first attempt (a create and its retry), then the recovered one.
    assert simulator.stats()[REPLICATE_CREATE] == 3
    assert ledger(generation) == [("reserve", -1), ("capture", 0)]
    assert credits_balance_get(user=user) == 99
