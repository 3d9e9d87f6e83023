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


def test_with_no_socket_listening_the_card_is_not_drawn_but_the_event_is_stored(db, django_capture_on_commit_callbacks):
    from apps.accounts.services import user_create
    from apps.realtime.models import Event
    from apps.realtime.publish import publish_to_user

    user = user_create(email="nobody-listens@example.com")
    drawn = []
    with django_capture_on_commit_callbacks(execute=True):
        publish_to_user(user_id=user.pk, event="generation.progress", data={"status": "queued"},
                        html=lambda: drawn.append(1) or "<div></div>")
    assert drawn == []
    assert list(Event.objects.filter(user_id=user.pk).values_list("type", flat=True)) == ["generation.progress"]


async def test_waiters_arriving_together_share_one_reader_and_are_all_woken():
    import asyncio

    async def wait_one(key):
        async with notify.waiting("together", key) as woken:
            await started.wait()
            return await woken.wait(5)

    started = asyncio.Event()
    tasks = [asyncio.ensure_future(wait_one(str(i))) for i in range(20)]
    await asyncio.sleep(0.05)
    started.set()
    for i in range(20):
        await sync_to_async(notify.notify)("together", str(i))
    assert await asyncio.gather(*tasks) == [True] * 20
