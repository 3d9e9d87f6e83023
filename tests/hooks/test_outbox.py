"""The outbox: a generation's webhook delivery is written in the transaction that ends it, whatever
happens to its live update, and the same end announced twice is delivered once."""

import json

import pytest
from django.db import transaction

from apps.core import events
from apps.generations.models import Generation
from apps.hooks import services
from apps.hooks.models import WebhookDelivery
from apps.realtime import publish
from apps.realtime.models import Event
from tests.generations.factories import GenerationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalog")]

EVENTS = ["generation.succeeded", "generation.failed", "generation.canceled"]


def test_the_delivery_is_written_even_when_the_live_event_cannot_be_stored(user, receiver, monkeypatch):
    endpoint = services.webhook_endpoint_create(user=user, url=receiver.url, events=EVENTS)

    def store_down(**kwargs):
        raise RuntimeError("event store unavailable")

    monkeypatch.setattr(publish, "event_record", store_down)
    generation = GenerationFactory(owner=user)  # eager Celery: runs to the end at commit
    generation.refresh_from_db()
    assert generation.status == "succeeded"
    assert Event.objects.filter(user=user).count() == 0
    delivery = WebhookDelivery.objects.get()
    assert (delivery.endpoint, delivery.event_type, delivery.status, delivery.last_status_code) == (
        endpoint, "generation.succeeded", "succeeded", 204,
    )
    [request] = receiver.requests
    assert request.headers["webhook-id"] == delivery.message_id


def test_the_same_end_announced_twice_is_one_delivery(user, receiver):
    services.webhook_endpoint_create(user=user, url=receiver.url, events=EVENTS)
    generation = GenerationFactory(owner=user)
    first = WebhookDelivery.objects.get()
    again = events.GenerationFinished(user_id=user.pk, generation_id=str(generation.pk), status="succeeded")
    with transaction.atomic():  # a stale finisher announces the end again, twice
        events.emit(again)
        events.emit(again)
    assert list(WebhookDelivery.objects.values_list("pk", "message_id", "attempts")) == [
        (first.pk, first.message_id, 1),
    ]
    assert len(receiver.requests) == 1


def test_a_delivery_rolls_back_with_the_change_it_reports(user, receiver):
    services.webhook_endpoint_create(user=user, url=receiver.url, events=EVENTS)
    generation = GenerationFactory(owner=user)
    WebhookDelivery.objects.all().delete()
    with pytest.raises(RuntimeError), transaction.atomic():
        Generation.objects.filter(pk=generation.pk).update(status="failed")
        ended = events.GenerationFinished(user_id=user.pk, generation_id=str(generation.pk), status="failed")
        events.emit(ended)
        raise RuntimeError("the ending transaction fails")
    assert WebhookDelivery.objects.count() == 0
    assert len(receiver.requests) == 1


def test_a_batchs_finished_webhook_is_written_after_its_last_generations(user, receiver):
    from apps.batches.services import batch_create

    services.webhook_endpoint_create(
        user=user, url=receiver.url, events=["generation.succeeded", "batch.finished"],
    )
    batch = batch_create(user=user, items=[{"model": "offline-sketch", "prompt": f"p{n}"} for n in range(3)],
                         source="prompts")
    written = list(WebhookDelivery.objects.order_by("pk").values_list("event_type", flat=True))
    assert written == ["generation.succeeded"] * 3 + ["batch.finished"]
    finished = WebhookDelivery.objects.get(event_type="batch.finished")
    assert (finished.status, json.loads(finished.payload)["data"]["id"]) == ("succeeded", str(batch.pk))
