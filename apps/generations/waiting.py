"""Waiting for a generation to end, event-driven: no thread held, no polling loop.

`generation_end_notify` (a `GenerationFinished` subscriber, after commit, registered first so it
runs before the live card is drawn) sends a notice; `generation_await` (async) awaits it and reads
the row when woken. The database stays the truth: the row is re-read every `fallback_seconds`
too, so a lost notice (Redis restarting, a process subscribing late) only delays the answer.
Between reads no database connection is held (a pooled one goes back to the pool).
"""

from collections.abc import Callable
from typing import TypeVar

from asgiref.sync import sync_to_async
from django.db import connection

from apps.core import events
from apps.realtime import notify

TOPIC = "generation-end"
T = TypeVar("T")


def generation_end_notify(event: events.GenerationFinished) -> None:
    notify.notify(TOPIC, event.generation_id, {"status": event.status})


def _release_connection() -> None:
    """Hand a pooled connection back between reads (never inside a transaction, e.g. a test's)."""
    if connection.connection is not None and not connection.in_atomic_block and getattr(connection, "pool", None):
        connection.close()


def _checked(check: Callable[[], T | None]) -> T | None:
    try:
        return check()
    finally:
        _release_connection()


async def generation_await(*, generation_id, check: Callable[[], T | None], fallback_seconds: float) -> T:
    """`check()` (sync: it reads the database) until it returns something, read again whenever the
    generation's end is announced, and every `fallback_seconds` at the latest."""
    async with notify.waiting(TOPIC, str(generation_id)) as woken:
        while (result := await sync_to_async(_checked)(check)) is None:
            await woken.wait(fallback_seconds)
    return result
