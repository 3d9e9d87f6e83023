"""Provider webhooks are stored and applied by a task, and a webhook is also how a create whose
answer was lost finds its job again. The adoption must not wait for the task: the run waiting for
the job (`router._adopt`, reading `lost_answers`) sees it as soon as the webhook is received, and
the stored delivery is applied once the adopted job's id is saved."""

import io

import pytest
from django.test import TestCase
from PIL import Image

from apps.credits.models import LedgerEntry
from apps.generations import services, tasks
from apps.generations.models import Generation, Status
from apps.generations.services import dispatch, lost_answers
from apps.providers import router
from apps.providers.models import WebhookDelivery
from apps.providers.types import JobState, ProviderOutput, ProviderStatus, Route, WebhookEvent
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")

ROUTE = Route("replicate", "black-forest-labs/flux-schnell", {})


def png() -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((64, 64)).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def waiting(user) -> Generation:
    """A generation whose first create went out and lost its answer: it waits for the job."""
    generation = GenerationFactory(owner=user)
    services.generation_claim(generation.id)
    lost_answers.generation_answer_lost(generation.id, attempt=1, route=ROUTE)
    return generation


def receive(generation, delivery_id: str, status: ProviderStatus, *, attempt: int = 1) -> list:
    """The webhook endpoint's call; the task it hands the delivery to is not run (returned)."""
    with TestCase.captureOnCommitCallbacks(execute=False) as handed:
        services.generation_webhook_receive(provider="replicate", event=WebhookEvent(delivery_id, status),
                                            generation_id=generation.id, attempt=attempt)
    return handed


def unapplied() -> list[tuple[str, str]]:
    return list(WebhookDelivery.objects.filter(applied_at__isnull=True).values_list("delivery_id", "provider_job_id"))


def test_a_lost_creates_job_is_adopted_as_its_webhook_is_received_and_the_delivery_applied_once_saved(user):
    generation = waiting(user)
    done = ProviderStatus(JobState.SUCCEEDED, provider_job_id="job-9", outputs=(ProviderOutput(content=png()),))

    handed = receive(generation, "d1", done)
    assert len(handed) == 1  # the apply task is handed the delivery, and has not run yet
    # The run's adoption wait sees the job now, not when a task gets to the delivery.
    assert lost_answers.generation_lost_job(generation.id, attempt=1, final=False) == "job-9"
    assert Generation.objects.get(pk=generation.pk).lost_answers["1"] == {
        "provider": "replicate", "model": ROUTE.model, "state": "adopted", "job": "job-9",
    }
    assert unapplied() == [("d1", "job-9")]  # kept: no generation has that job id yet

    handed[0]()  # the task runs before the job id is saved: nothing to apply it to, still kept
    assert unapplied() == [("d1", "job-9")]

    # The run adopts the job: saving its id applies the stored delivery.
    with TestCase.captureOnCommitCallbacks(execute=True):
        dispatch.generation_mark_running(generation.id, route_index=0, route=ROUTE, provider_job_id="job-9")
    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    assert unapplied() == []
    assert list(LedgerEntry.objects.filter(generation=generation).order_by("id").values_list("kind", "amount")) == [
        ("reserve", -1), ("capture", 0)
    ]


def test_a_webhook_for_an_unknown_job_that_names_no_lost_attempt_is_kept_unapplied(user):
    generation = GenerationFactory(owner=user)
    services.generation_claim(generation.id)

    handed = receive(generation, "d1", ProviderStatus(JobState.RUNNING, provider_job_id="job-9"))
    for task in handed:
        task()
    generation.refresh_from_db()
    assert generation.lost_answers == {}  # its create's answer was not lost: nothing to adopt
    assert generation.status == Status.DISPATCHED
    assert unapplied() == [("d1", "job-9")]  # applied if that job id is saved (an answer still on its way)


def test_a_late_orphan_is_canceled_by_a_task_not_inside_the_webhooks_answer(user, monkeypatch):
    generation = waiting(user)
    assert lost_answers.generation_lost_job(generation.id, attempt=1, final=True) is None  # the run moved on
    inline, queued = [], []
    monkeypatch.setattr(router, "job_cancel", lambda *args: inline.append(args))
    monkeypatch.setattr(tasks.generation_orphan_cancel_task, "delay", lambda **kwargs: queued.append(kwargs))

    receive(generation, "d1", ProviderStatus(JobState.RUNNING, provider_job_id="job-9"))
    receive(generation, "d2", ProviderStatus(JobState.CANCELED, provider_job_id="job-9"))  # its end, later

    assert Generation.objects.get(pk=generation.pk).lost_answers["1"]["state"] == "canceled"
    assert queued == [{"provider": "replicate", "provider_job_id": "job-9"}]  # once
    assert inline == []
    tasks.generation_orphan_cancel_task(**queued[0])
    assert inline == [("replicate", "job-9")]


def test_a_duplicate_of_a_lost_creates_webhook_is_stored_once(user):
    generation = waiting(user)
    status = ProviderStatus(JobState.RUNNING, provider_job_id="job-9")
    assert len(receive(generation, "d1", status)) == 1
    assert receive(generation, "d1", status) == []  # refused as a duplicate: nothing handed over
    assert unapplied() == [("d1", "job-9")]
    assert Generation.objects.get(pk=generation.pk).lost_answers["1"]["state"] == "adopted"
