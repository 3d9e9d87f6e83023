"""A webhook message's id and body, and sending deliveries once their transaction commits."""

import json
import uuid

from django.db import transaction

from . import tasks

MESSAGE_NAMESPACE = uuid.UUID("5b0f8f5c-6d1f-4b8e-9a3e-3f1f0f6d2a11")


def message_id(*, event_type: str, object_id) -> str:
    """The `webhook-id` of what happened to one object: the same however often it is announced."""
    return "msg_" + uuid.uuid5(MESSAGE_NAMESPACE, f"{event_type}:{object_id}").hex


def message_body(*, event: str, data: dict, at) -> str:
    body = {"type": event, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data}
    return json.dumps(body, separators=(",", ":"), sort_keys=False)


def deliveries_enqueue(delivery_ids: list[int]) -> None:
    def send():
        for delivery_id in delivery_ids:
            tasks.webhook_deliver_task.delay(delivery_id=delivery_id)

    transaction.on_commit(send)
