"""The transport of live updates: apps' subscribers publish here, after their transaction commits.

Every message is one JSON object: a typed event with its data, the HTML fragments for the page's
out-of-band swaps, and the event's `id` — a number that counts up per user. Browsers swap the
HTML; API clients read the rest, on the websocket or resumably on the SSE stream
(`GET /api/v1/events`), which replays the stored events (`Event`). Nothing else hangs off a
published message: apps react to domain events (`apps.core.events`), not to live updates.
"""

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .groups import user_group
from .models import Event, EventStream

logger = logging.getLogger(__name__)

_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None
_loop_lock = threading.Lock()
SEND_TIMEOUT = 5


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """One long-lived event loop per process for publishing from plain threads (Celery workers).

    `async_to_sync` outside a server makes a new event loop per call, and channels-redis keeps
    its connections per loop: every event paid for a new Redis connection and its teardown."""
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid() or _loop.is_closed():
            _loop, _loop_pid = asyncio.new_event_loop(), os.getpid()
            threading.Thread(target=_loop.run_forever, name="live-publish", daemon=True).start()
        return _loop


def _group_send(group: str, payload: dict) -> None:
    layer = get_channel_layer()
    if type(layer).__module__.startswith("channels_redis") and not _in_server_thread():
        asyncio.run_coroutine_threadsafe(layer.group_send(group, payload), _publisher_loop()).result(SEND_TIMEOUT)
    else:
        # In the web process async_to_sync runs it on the server's own loop; in-memory layers
        # must stay on the loop their queues belong to.
        async_to_sync(layer.group_send)(group, payload)


def group_send_now(group: str, payload: dict) -> None:
    """Send `payload` to a channel-layer group now, from any thread of any process (raises on failure)."""
    _group_send(group, payload)


def _in_server_thread() -> bool:
    from asgiref.sync import SyncToAsync

    return getattr(SyncToAsync.threadlocal, "main_event_loop", None) is not None


def _send(group: str, message: dict) -> None:
    try:
        _group_send(group, {"type": "live.event", "text": json.dumps(message)})
    except Exception:
        # A live update is best effort: a reload re-renders from the database.
        logger.exception("live event not delivered", extra={"group": group, "event": message["type"]})


def event_record(*, user_id, event: str, data: dict, sent_at: float | None = None) -> int:
    """Store one event under the next id of its user, and commit it: the stream row stays locked
    until then, so ids commit in order."""
    created_at = datetime.fromtimestamp(sent_at, UTC) if sent_at else timezone.now()
    if connection.vendor == "postgresql":
        return _event_record_pg(user_id=user_id, event=event, data=data, created_at=created_at)
    EventStream.objects.get_or_create(user_id=user_id)
    with transaction.atomic():
        EventStream.objects.filter(pk=user_id).update(last_id=F("last_id") + 1)
        seq = EventStream.objects.values_list("last_id", flat=True).get(pk=user_id)
        Event.objects.create(user_id=user_id, seq=seq, type=event, data=data, created_at=created_at)
    return seq


# Numbering and storing in one statement: the counter row is locked only until that statement
# commits (before, a transaction of four round trips held it, serialising a user's events).
_EVENT_RECORD_SQL = f"""
WITH stream AS (
    INSERT INTO {EventStream._meta.db_table} (user_id, last_id) VALUES (%s, 1)
    ON CONFLICT (user_id) DO UPDATE SET last_id = {EventStream._meta.db_table}.last_id + 1
    RETURNING last_id
)
INSERT INTO {Event._meta.db_table} (user_id, seq, type, data, created_at)
SELECT %s, last_id, %s, %s::jsonb, %s FROM stream
RETURNING seq
"""


def _event_record_pg(*, user_id, event: str, data: dict, created_at) -> int:
    # In autocommit the statement is its own transaction; inside a caller's, the lock lasts until
    # that commits, as before.
    with connection.cursor() as cursor:
        cursor.execute(_EVENT_RECORD_SQL, [user_id, user_id, event, json.dumps(data), created_at])
        return cursor.fetchone()[0]


_redis_client = None
_redis_pid: int | None = None


def _layer_redis(layer):
    """A plain Redis client on the channel layer's (first) host, one per process."""
    global _redis_client, _redis_pid
    if _redis_client is None or _redis_pid != os.getpid():
        import redis

        # The queue layer keeps its decoded hosts; the pubsub layer (a per-loop proxy) its arguments.
        attributes = vars(layer)
        host = (attributes.get("hosts") or attributes.get("_kwargs", {}).get("hosts") or [settings.REDIS_URL])[0]
        address = host["address"] if isinstance(host, dict) else host
        _redis_client = redis.Redis.from_url(address, socket_timeout=2, socket_connect_timeout=2)
        _redis_pid = os.getpid()
    return _redis_client


def group_has_listeners(group: str) -> bool:
    """Whether any socket listens on `group` right now, in any server process (one Redis command
    with the Redis layers). True when it cannot tell: then everything is drawn and sent as before."""
    layer = get_channel_layer()
    try:
        kind = type(layer).__module__ + "." + type(layer).__name__
        if kind == "channels_redis.pubsub.RedisPubSubChannelLayer":
            # Each server process with a socket in the group is subscribed to the group's channel,
            # named as channels_redis names it (RedisPubSubLoopLayer._get_group_channel_name).
            name = f"{layer._kwargs.get('prefix', 'asgi')}__group__{group}"
            return _layer_redis(layer).pubsub_numsub(name)[0][1] > 0
        if kind == "channels_redis.core.RedisChannelLayer":
            return _layer_redis(layer).zcard(layer._group_key(group)) > 0
        if hasattr(layer, "groups") and isinstance(layer.groups, dict):  # in memory
            return bool(layer.groups.get(group))
    except Exception:
        logger.warning("could not tell whether a socket listens", exc_info=True, extra={"group": group})
    return True


def _deliver(user_id, message: dict, on_delivered: Callable[[], None] | None = None) -> None:
    # No socket of the user's is open (an API caller, a closed tab): the card is not drawn and
    # nothing is sent; the event is still stored for the SSE stream, and a page that opens later
    # renders its cards from the database.
    group = user_group(user_id)
    listening = group_has_listeners(group)
    if callable(message["html"]):
        try:
            message["html"] = message["html"]() if listening else ""
        except Exception:
            # The typed event still goes out; a page that misses the fragment re-renders on reload.
            logger.exception("live event html not rendered", extra={"event": message["type"]})
            message["html"] = ""
    try:
        message["id"] = event_record(
            user_id=user_id, event=message["type"], data=message["data"], sent_at=message["sent_at"]
        )
    except Exception:
        logger.exception("live event not stored", extra={"event": message["type"]})
        message["id"] = None
    if listening:
        _send(group, message)
    if on_delivered is not None:
        try:
            on_delivered()
        except Exception:
            logger.exception("after-delivery hook failed", extra={"event": message["type"]})


def publish_to_user(*, user_id, event: str, data: dict, html: str | Callable[[], str] = "",
                    on_delivered: Callable[[], None] | None = None) -> None:
    """Send after commit; `on_delivered` runs once the message has gone to the channel layer.
    `html` may be a function, called after commit, so its rendering holds no locks."""
    message = {"type": event, "data": data, "html": html, "sent_at": time.time()}
    transaction.on_commit(lambda: _deliver(user_id, message, on_delivered))


def events_trim(*, now=None) -> int:
    """Forget events older than EVENTS_RETENTION_HOURS (the counters stay, so ids never repeat)."""
    now = now or timezone.now()
    deleted, _ = Event.objects.filter(created_at__lt=now - timedelta(hours=settings.EVENTS_RETENTION_HOURS)).delete()
    return deleted
