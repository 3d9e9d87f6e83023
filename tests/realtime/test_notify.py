"""Waking waiting requests: a notice wakes them at once, and without one they still re-read."""

import time

from asgiref.sync import sync_to_async

from apps.generations import waiting
from apps.realtime import notify


async def test_a_notice_wakes_the_waiter_on_its_key_only():
    async with notify.waiting("test-topic", "a") as woken_a, notify.waiting("test-topic", "b") as woken_b:
        await sync_to_async(notify.notify)("test-topic", "a", {"status": "succeeded"})
        assert await woken_a.wait(5)
        assert not await woken_b.wait(0.05)


async def test_waiting_for_an_end_rereads_on_the_notice_before_the_fallback_interval():
    reads = []

    def check():
        reads.append(1)
        return "ended" if len(reads) > 1 else None

    async def announce():
        await sync_to_async(notify.notify)(waiting.TOPIC, "g1")

    import asyncio

    started = time.monotonic()
    task = asyncio.ensure_future(waiting.generation_await(generation_id="g1", check=check, fallback_seconds=30))
    await asyncio.sleep(0.05)
    await announce()
    assert await asyncio.wait_for(task, 5) == "ended"
    assert time.monotonic() - started < 5


async def test_without_a_notice_the_fallback_reread_ends_the_wait():
    reads = []

    def check():
        reads.append(1)
        return "ended" if len(reads) >= 3 else None

    assert await waiting.generation_await(generation_id="g2", check=check, fallback_seconds=0.01) == "ended"
    assert len(reads) == 3
