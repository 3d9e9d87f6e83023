"""Wake-ups for requests that wait on something: "X ended" without a thread held or a polling loop.

A producer (any process: a Celery worker, the web process, the embedded worker thread) calls
`notify(topic, key, data)` after its commit; a request awaits `notification(topic, key, timeout)`
on the server's event loop. The message travels over the channel layer to one group per topic,
which each server process joins once with one channel of its own (a hub): waiting costs no Redis
command per request, and one notice costs one PUBLISH whoever waits.

A notice is a hint, never the truth: it can be lost (Redis restarting, a process not yet
subscribed), so a waiter re-reads the database when woken and when its timeout passes, e.g.

    async with waiting("generation-end", generation_id) as woken:
        while (row := await read()) is None:
            await woken.wait(timeout=2.0)     # a notice, or the fallback re-read
"""

import asyncio
import logging
from contextlib import asynccontextmanager

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def _group(topic: str) -> str:
    return f"notify.{topic}"


def notify(topic: str, key: str, data: dict | None = None) -> None:
    """Wake whoever waits on (`topic`, `key`), in every server process. Best effort: call it
    after commit (what the waiter re-reads must be visible); a failure is logged, not raised."""
    from .publish import group_send_now

    try:
        group_send_now(_group(topic), {"type": "notify", "topic": topic, "key": str(key), "data": data or {}})
    except Exception:
        logger.exception("notice not sent", extra={"topic": topic})


class _Hub:
    """This server process's one channel in each topic's group, and the waiters by key."""

    def __init__(self):
        self.loop: asyncio.AbstractEventLoop | None = None
        self.channel: str | None = None
        self.reader: asyncio.Task | None = None
        self.topics: set[str] = set()
        self.waiters: dict[tuple[str, str], set[asyncio.Event]] = {}
        self.lock: asyncio.Lock | None = None

    async def join(self, topic: str) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is loop and self.reader is not None and not self.reader.done() and topic in self.topics:
            return  # the usual case: nothing to do
        if self.lock is None or self.loop is not loop:
            self.loop, self.lock, self.topics, self.reader = loop, asyncio.Lock(), set(), None
        async with self.lock:  # requests arriving together start one reader, not one each
            layer = get_channel_layer()
            if self.reader is None or self.reader.done():
                # First use on this loop, or the reader died (a lost connection): start over.
                self.topics = set()
                self.channel = await layer.new_channel("notify.")
                self.reader = loop.create_task(self._read(layer, self.channel))
            if topic not in self.topics:
                await layer.group_add(_group(topic), self.channel)
                self.topics.add(topic)

    async def _read(self, layer, channel: str) -> None:
        while True:
            message = await layer.receive(channel)
            for event in self.waiters.get((message.get("topic"), message.get("key")), ()):
                event.set()

    def add(self, topic: str, key: str, event: asyncio.Event) -> None:
        self.waiters.setdefault((topic, key), set()).add(event)

    def remove(self, topic: str, key: str, event: asyncio.Event) -> None:
        events = self.waiters.get((topic, key))
        if events is not None:
            events.discard(event)
            if not events:
                del self.waiters[(topic, key)]


_hub = _Hub()


class Woken:
    """What `waiting` yields: `await woken.wait(timeout)` returns True on a notice, False on timeout."""

    def __init__(self):
        self.event = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            return False
        self.event.clear()
        return True


@asynccontextmanager
async def waiting(topic: str, key: str):
    """Listen for notices on (`topic`, `key`) while inside: enter before reading the state, so a
    notice sent between the read and the wait is not missed. Without a working channel layer the
    waiter still works: `wait` then only times out (the caller's fallback re-read)."""
    woken, key = Woken(), str(key)
    try:
        await _hub.join(topic)
    except Exception:
        logger.warning("notices unavailable; waiting on the fallback re-read", exc_info=True)
    _hub.add(topic, key, woken.event)
    try:
        yield woken
    finally:
        _hub.remove(topic, key, woken.event)
