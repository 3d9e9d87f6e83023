"""Webhooks get lost and polls race them: whichever sees the end first applies it, exactly once."""

import threading
import time

import pytest
from django.db import connection

from apps.credits.models import LedgerEntry
from apps.generations import services
from apps.generations.models import Generation, GenerationImage, Status
from apps.providers.models import WebhookDelivery
from apps.realtime.models import Event
from tests.accounts.factories import UserFactory
from tests.providers.conftest import poll_until_done


@pytest.fixture
def job(simulator, catalog, settings, scheduled_polls):
    simulator.knobs("replicate", job_seconds=0.3)
    user = UserFactory()

    def submit() -> Generation:
        generation = services.generation_create(user=user, model_slug="flux-schnell", prompt="a kite", seed=5)
        services.generation_run(generation_id=generation.id)
        return generation

    return submit


def settled(generation: Generation) -> tuple:
    generation.refresh_from_db()
    kinds = sorted(LedgerEntry.objects.filter(generation=generation).values_list("kind", flat=True))
    return generation.status, kinds, GenerationImage.objects.filter(generation=generation).count()


def wait_for_end(generation: Generation, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while Generation.objects.get(pk=generation.pk).is_active:
        assert time.monotonic() < deadline, "the job never ended"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_polling_alone_when_no_webhook_is_configured(job, settings):
    settings.PROVIDER_WEBHOOK_BASE_URL = ""
    generation = job()
    poll_until_done(generation.id)
    assert settled(generation) == (Status.SUCCEEDED, ["capture", "reserve"], 1)
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_queued_provider_job_is_shown_on_its_way_and_while_its_outputs_download(job, settings):
    settings.PROVIDER_WEBHOOK_BASE_URL = ""
    generation = job()
    poll_until_done(generation.id)
    # ("queued" is left out: with tasks run eagerly the job runs before the submit's event is out)
    statuses = Event.objects.filter(user_id=generation.owner_id).exclude(data__status="queued").order_by("seq")
    statuses = list(statuses.values_list("data__status", flat=True))
    shown = [status for index, status in enumerate(statuses) if index == 0 or status != statuses[index - 1]]
    assert shown == ["dispatched", "running", "finishing", "succeeded"]


@pytest.mark.django_db(transaction=True)
def test_webhooks_alone_even_duplicated(job, settings, live_server, simulator):
    settings.PROVIDER_WEBHOOK_BASE_URL = live_server.url
    simulator.knobs("replicate", webhook_copies=3)
    generation = job()
    wait_for_end(generation)
    assert settled(generation) == (Status.SUCCEEDED, ["capture", "reserve"], 1)
    webhooks_quiet(simulator)  # the last copies still arriving would race the test database's flush


def webhooks_quiet(simulator, *, seconds: float = 1.0, limit: float = 15.0) -> None:
    """Wait until the simulator has sent no webhook for `seconds`."""
    def sent():
        return {k: v for k, v in simulator.stats().items() if ":webhook" in k}

    last, since, deadline = sent(), time.monotonic(), time.monotonic() + limit
    while time.monotonic() - since < seconds and time.monotonic() < deadline:
        time.sleep(0.2)
        if (now := sent()) != last:
            last, since = now, time.monotonic()


@pytest.mark.django_db(transaction=True)
def test_webhooks_and_polling_at_once(job, settings, live_server, simulator):
    settings.PROVIDER_WEBHOOK_BASE_URL = live_server.url
    simulator.knobs("replicate", webhook_copies=3)
    generation = job()
    pollers = [threading.Thread(target=lambda: (poll_until_done(generation.id), connection.close())) for _ in range(3)]
    for poller in pollers:
        poller.start()
    for poller in pollers:
        poller.join(timeout=20)
    wait_for_end(generation)
    assert settled(generation) == (Status.SUCCEEDED, ["capture", "reserve"], 1)
    assert simulator.stats().get("replicate:webhook_204", 0) >= 1
    webhooks_quiet(simulator)


@pytest.mark.django_db(transaction=True)
def test_a_lost_webhook_is_covered_by_polling(job, settings, live_server, simulator):
    settings.PROVIDER_WEBHOOK_BASE_URL = live_server.url
    simulator.knobs("replicate", webhook_drop_rate=1.0)
    generation = job()
    time.sleep(0.5)
    assert Generation.objects.get(pk=generation.pk).is_active  # nothing came
    poll_until_done(generation.id)
    assert settled(generation) == (Status.SUCCEEDED, ["capture", "reserve"], 1)
