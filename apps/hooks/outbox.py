"""The outbox: outgoing webhooks are written in the transaction of the change they report.

`in_transaction` subscribers of `GenerationFinished` and `BatchFinished` write one delivery per
active endpoint that chose the event, inside the emitting transaction (so the delivery commits with
the change, or not at all), and the sending is enqueued on commit. The message id derives from the
event (its type and object id), so an end announced twice writes no second delivery (the
endpoint + message id unique constraint). A batch's `batch.finished` is written in the transaction
that finishes the batch, after the one that ended its last generation, so its delivery always
follows that generation's.
"""

from collections.abc import Callable

from django.utils import timezone

from apps.core import events

from . import messages
from .models import EVENT_TYPES, WebhookDelivery, WebhookEndpoint
from .payloads import batch_payload, generation_payload


def generation_finished(event: events.GenerationFinished) -> None:
    deliveries_write(
        user_id=event.user_id, event_type=f"generation.{event.status}", object_id=event.generation_id,
        data=lambda: generation_payload(event.user_id, event.generation_id),
    )


def generation_reviewed(event: events.GenerationReviewed) -> None:
    deliveries_write(
        user_id=event.user_id, event_type="generation.reviewed", object_id=event.generation_id,
        data=lambda: generation_payload(event.user_id, event.generation_id),
    )


def batch_finished(event: events.BatchFinished) -> None:
    deliveries_write(
        user_id=event.user_id, event_type="batch.finished", object_id=event.batch_id,
        data=lambda: batch_payload(event.user_id, event.batch_id),
    )


def deliveries_write(
    *, user_id, event_type: str, object_id, data: Callable[[], dict | None]
) -> list[WebhookDelivery]:
    """One delivery per active endpoint of the user's that chose `event_type`; `data` builds the
    payload's object (only when some endpoint wants it). Call inside the transaction of the change."""
    if event_type not in EVENT_TYPES:
        return []
    endpoints = [
        endpoint for endpoint in WebhookEndpoint.objects.filter(owner_id=user_id, is_active=True)
        if event_type in endpoint.events
    ]
    if not endpoints:
        return []
    payload = data()
    if payload is None:
        return []
    now = timezone.now()
    body = messages.message_body(event=event_type, data=payload, at=now)
    message_id = messages.message_id(event_type=event_type, object_id=object_id)
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(endpoint=endpoint, message_id=message_id, event_type=event_type, payload=body,
                            next_attempt_at=now)
            for endpoint in endpoints
        ],
        ignore_conflicts=True,
    )
    deliveries = list(WebhookDelivery.objects.filter(message_id=message_id, endpoint__in=endpoints))
    messages.deliveries_enqueue(
        [d.pk for d in deliveries if d.status == WebhookDelivery.Status.PENDING and d.attempts == 0]
    )
    return deliveries
