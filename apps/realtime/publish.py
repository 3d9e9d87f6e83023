"""Services publish live events here, after their transaction commits.

Every message is one JSON object: a typed event with its data, the HTML fragments for the page's
out-of-band swaps, and the event's `id` — a number that counts up per user. Browsers swap the
HTML; API clients read the rest, on the websocket or resumably on the SSE stream
(`GET /api/v1/events`), which replays the stored events (`Event`). Other apps can listen to
every published event (`event_listeners`), e.g. to send outgoing webhooks.
"""

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .groups import user_group
from .models import Event, EventStream

logger = logging.getLogger(__name__)

# Called as listener(user_id=..., event=..., data=..., event_id=...) after an event is stored.
event_listeners: list[Callable[..., None]] = []


def _send(group: str, message: dict) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(group, {"type": "live.event", "text": json.dumps(message)})
    except Exception:
        # A live update is best effort: a reload re-renders from the database.
        logger.exception("live event not delivered", extra={"group": group, "event": message["type"]})


def event_record(*, user_id, event: str, data: dict, sent_at: float | None = None) -> int:
    """Store one event under the next id of its user, and commit it: the stream row stays locked
    until then, so ids commit in order."""
    created_at = datetime.fromtimestamp(sent_at, UTC) if sent_at else timezone.now()
    EventStream.objects.get_or_create(user_id=user_id)
    with transaction.atomic():
        EventStream.objects.filter(pk=user_id).update(last_id=F("last_id") + 1)
        seq = EventStream.objects.values_list("last_id", flat=True).get(pk=user_id)
        Event.objects.create(user_id=user_id, seq=seq, type=event, data=data, created_at=created_at)
    return seq


def _deliver(user_id, message: dict) -> None:
    try:
        message["id"] = event_record(
            user_id=user_id, event=message["type"], data=message["data"], sent_at=message["sent_at"]
        )
    except Exception:
        logger.exception("live event not stored", extra={"event": message["type"]})
        message["id"] = None
    _send(user_group(user_id), message)
    if message["id"] is None:
        return
    for listener in event_listeners:
        try:
            listener(user_id=user_id, event=message["type"], data=message["data"], event_id=message["id"])
        except Exception:
            logger.exception("event listener failed", extra={"event": message["type"]})


def publish_to_user(*, user_id, event: str, data: dict, html: str = "") -> None:
    message = {"type": event, "data": data, "html": html, "sent_at": time.time()}
    transaction.on_commit(lambda: _deliver(user_id, message))


def events_trim(*, now=None) -> int:
    """Forget events older than EVENTS_RETENTION_HOURS (the counters stay, so ids never repeat)."""
    now = now or timezone.now()
    deleted, _ = Event.objects.filter(created_at__lt=now - timedelta(hours=settings.EVENTS_RETENTION_HOURS)).delete()
    return deleted
