"""Provider webhooks are acknowledged fast: the endpoint verifies, de-duplicates and stores a
delivery, answers, and a task downloads and finishes. A delivery that arrives before our create
call returned (so before the job id is saved) is kept and applied once the id is saved. Whoever
sees the end first — a webhook, a copy of it, a poll — finishes and charges exactly once.

Each test's money, for flux-dev (3 credits an image), 2 images asked and 1 delivered (the
simulator's `missing_outputs`): reserve −6, capture 0, release +3."""

import threading
import time

import pytest
from django.db import connection

from apps.credits.models import CreditAccount, LedgerEntry
from apps.generations import services, tasks
from apps.generations.models import Generation, GenerationImage, Status
from apps.providers.models import WebhookDelivery
from apps.realtime.models import Event
from tests.providers.conftest import poll_until_done

CREATE = "replicate:POST /replicate/v1/models/black-forest-labs/flux-dev/predictions"
MONEY = [("reserve", -6), ("capture", 0), ("release", 3)]


@pytest.fixture
def worker(monkeypatch):
    """Stands in for a Celery worker: each webhook task handed over runs on its own thread, as it
    would in another process (eager tasks would run it inside the webhook's request)."""
    handed, threads, real = [], [], tasks.generation_webhook_apply_task

    def run(kwargs, countdown):
        time.sleep(countdown)
        try:
            real(**kwargs)
        finally:
            connection.close()

    class Queue:
        @staticmethod
        def apply_async(*, kwargs, countdown=0):
            if kwargs.get("attempt", 1) == 1:  # handed over; later attempts: the job was busy
                handed.append(kwargs["delivery_id"])
            thread = threading.Thread(target=run, args=(kwargs, countdown))
            threads.append(thread)
            thread.start()

        @staticmethod
        def delay(**kwargs):
            Queue.apply_async(kwargs=kwargs)

    monkeypatch.setattr(tasks, "generation_webhook_apply_task", Queue)
    yield handed
    for thread in threads:
        thread.join(timeout=30)


@pytest.fixture
def webhooks(simulator, catalog, settings, live_server, scheduled_polls):
    settings.PROVIDER_WEBHOOK_BASE_URL = live_server.url
    simulator.knobs("replicate", job_seconds=0.3, missing_outputs=1)
    return simulator


def submit(user) -> Generation:
    """Submitted at commit (eager tasks, transactional test): the run creates the prediction."""
    return services.generation_create(user=user, model_slug="flux-dev", prompt="two kites", num_images=2)


def wait_for(predicate, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def ended(generation) -> bool:
    return not Generation.objects.get(pk=generation.pk).is_active


def money(generation) -> list[tuple]:
    return list(LedgerEntry.objects.filter(generation=generation).order_by("id").values_list("kind", "amount"))


def finished_once(generation) -> None:
    generation.refresh_from_db()
    assert (generation.status, generation.images_delivered, generation.charged_credits) == (Status.SUCCEEDED, 1, 3)
    assert GenerationImage.objects.filter(generation=generation).count() == 1
    assert money(generation) == MONEY
    assert CreditAccount.objects.get(user=generation.owner).balance == 97
    ends = Event.objects.filter(user_id=generation.owner_id, type="generation.succeeded")
    assert ends.count() == 1  # announced (so finished) once


@pytest.mark.django_db(transaction=True)
def test_the_webhook_is_answered_before_the_slow_output_download(webhooks, worker, user, scheduled_polls):
    webhooks.knobs("replicate", file_delay_ms=1500)  # a large output, slow to download
    generation = submit(user)
    wait_for(lambda: ended(generation))

    log = webhooks.state()["log"]
    answers = [index for index, entry in enumerate(log) if entry == "replicate:webhook_answered_204"]
    # Every delivery (start, completed) was answered before the output's bytes were sent: the
    # endpoint did not wait on the download, a task did it afterwards.
    assert len(answers) == 2 and log.count("replicate:file_sent") == 1
    assert max(answers) < log.index("replicate:file_sent")
    assert sorted(worker) == sorted(WebhookDelivery.objects.values_list("pk", flat=True))
    assert WebhookDelivery.objects.filter(applied_at__isnull=True).count() == 0
    assert webhooks.stats()[CREATE] == 1
    assert not [key for key in webhooks.stats() if key.startswith("replicate:GET /replicate/v1/predictions")]
    assert scheduled_polls == [str(generation.id)]  # scheduled, never run: the webhook finished it
    finished_once(generation)


@pytest.mark.django_db(transaction=True)
def test_a_webhook_before_the_create_answer_is_kept_and_applied_when_the_job_id_is_saved(
        webhooks, user, scheduled_polls):
    webhooks.knobs("replicate", webhook_before_answer=True)
    generation = submit(user)  # returns once the run (at commit) has the create answer
    wait_for(lambda: ended(generation))

    log = webhooks.state()["log"]
    # The provider called back (and was answered) before our create call returned: no job id yet.
    assert log.index("replicate:webhook_answered_204") < log.index("replicate:create_answered")
    assert WebhookDelivery.objects.count() == 2  # start and completed
    assert WebhookDelivery.objects.filter(applied_at__isnull=True).count() == 0
    assert webhooks.stats()[CREATE] == 1
    # Finished by the kept webhook when the job id was saved, not by a poll.
    assert not [key for key in webhooks.stats() if key.startswith("replicate:GET /replicate/v1/predictions")]
    assert scheduled_polls == [str(generation.id)]
    finished_once(generation)


@pytest.mark.django_db(transaction=True)
def test_duplicate_webhooks_and_polls_at_once_finish_and_charge_once(webhooks, worker, user):
    webhooks.knobs("replicate", webhook_copies=3, file_delay_ms=300)
    generation = submit(user)
    pollers = [threading.Thread(target=lambda: (poll_until_done(generation.id), connection.close()))
               for _ in range(3)]
    for poller in pollers:
        poller.start()
    for poller in pollers:
        poller.join(timeout=30)
    wait_for(lambda: ended(generation))
    wait_for(lambda: webhooks.stats().get("replicate:webhook_204", 0) == 6)  # 2 deliveries, 3 copies each

    assert len(worker) == 2  # each delivery stored and handed over once; the copies were refused
    assert webhooks.stats()[CREATE] == 1
    finished_once(generation)
