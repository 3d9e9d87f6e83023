import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient
from django.utils import timezone

from apps.accounts.services import api_key_create
from apps.realtime.models import Event
from apps.realtime.publish import events_trim, publish_to_user
from apps.realtime.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast_stream(settings):
    settings.EVENTS_STREAM_SECONDS = 0.6
    settings.EVENTS_POLL_SECONDS = 0.05
    settings.EVENTS_KEEPALIVE_SECONDS = 0.2


def publish(user, event, **data):
    # Outside a transaction on_commit runs at once, as after a service's commit.
    publish_to_user(user_id=user.pk, event=event, data=data, html="<p>card</p>")


async def read_stream(secret, **headers) -> str:
    response = await AsyncClient().get("/api/v1/events", headers={"Authorization": f"Bearer {secret}", **headers})
    assert response.status_code == 200
    assert (response["Content-Type"], response["Cache-Control"]) == ("text/event-stream", "no-cache")
    return b"".join([chunk async for chunk in response.streaming_content]).decode()


def without_keepalives(text: str) -> str:
    return text.replace(": keepalive\n\n", "")


def sse(seq: int, event: str, sent_at: float, **data) -> str:
    payload = {"id": seq, "type": event, "data": data, "sent_at": sent_at}
    return f"id: {seq}\nevent: {event}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"


async def test_events_are_numbered_per_user_and_the_websocket_message_carries_the_id(user, other_user):
    socket = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/live/")
    socket.scope["user"] = user
    assert (await socket.connect())[0]
    await sync_to_async(publish)(user, "generation.progress", progress=0.5)
    await sync_to_async(publish)(other_user, "generation.progress", progress=0.1)
    await sync_to_async(publish)(user, "generation.succeeded", progress=1.0)
    first = json.loads(await socket.receive_from(timeout=2))
    second = json.loads(await socket.receive_from(timeout=2))
    await socket.disconnect()
    assert {k: v for k, v in first.items() if k != "sent_at"} == {
        "type": "generation.progress", "data": {"progress": 0.5}, "html": "<p>card</p>", "id": 1,
    }
    assert (second["type"], second["id"]) == ("generation.succeeded", 2)
    rows = await sync_to_async(list)(Event.objects.order_by("user_id", "seq").values_list("user_id", "seq", "type"))
    assert rows == [(user.pk, 1, "generation.progress"), (user.pk, 2, "generation.succeeded"),
                    (other_user.pk, 1, "generation.progress")]


async def test_the_stream_resumes_after_last_event_id_with_only_the_owners_events(user, other_user, fast_stream):
    secret = (await sync_to_async(api_key_create)(user=user, name="sse")).secret
    for index in range(3):
        await sync_to_async(publish)(user, "generation.progress", step=index)
    await sync_to_async(publish)(other_user, "generation.failed", secret="theirs")
    stored = await sync_to_async(list)(Event.objects.filter(user=user).order_by("seq"))
    text = await read_stream(secret, **{"Last-Event-ID": "1"})
    assert ": keepalive\n\n" in text
    assert without_keepalives(text) == (
        "retry: 1000\n: connected\n\n"
        + sse(2, "generation.progress", stored[1].created_at.timestamp(), step=1)
        + sse(3, "generation.progress", stored[2].created_at.timestamp(), step=2)
    )
    query = await AsyncClient().get("/api/v1/events", {"last_event_id": 2}, headers={"Authorization": f"Bearer {secret}"})
    body = b"".join([chunk async for chunk in query.streaming_content]).decode()
    assert "id: 3\n" in body and "id: 2\n" not in body and "theirs" not in body


async def test_a_new_stream_starts_at_the_next_event_and_delivers_it_live(user, fast_stream):
    secret = (await sync_to_async(api_key_create)(user=user, name="sse")).secret
    await sync_to_async(publish)(user, "generation.progress", step="old")
    response = await AsyncClient().get("/api/v1/events", headers={"Authorization": f"Bearer {secret}"})
    chunks, published = [], False
    async for chunk in response.streaming_content:
        chunks.append(chunk)
        if not published and b": connected" in b"".join(chunks):
            # The stream is open (however long a busy machine took): now the next event.
            await sync_to_async(publish)(user, "generation.succeeded", step="new")
            published = True
    text = b"".join(chunks).decode()
    event = await sync_to_async(Event.objects.get)(user=user, seq=2)
    assert without_keepalives(text) == "retry: 1000\n: connected\n\n" + sse(
        2, "generation.succeeded", event.created_at.timestamp(), step="new"
    )


async def test_the_stream_needs_an_api_key(fast_stream):
    response = await AsyncClient().get("/api/v1/events")
    assert (response.status_code, json.loads(response.content)["code"]) == (401, "unauthenticated")


def test_trimming_forgets_old_events_but_ids_keep_counting(user, settings):
    settings.EVENTS_RETENTION_HOURS = 24
    publish(user, "generation.progress")
    publish(user, "generation.progress")
    Event.objects.filter(seq=1).update(created_at=timezone.now() - timedelta(hours=25))
    assert events_trim() == 1
    publish(user, "generation.succeeded")
    assert list(Event.objects.values_list("seq", flat=True).order_by("seq")) == [2, 3]


def test_concurrent_events_of_one_user_get_unique_gapless_ids(user):
    """Numbering is one statement under the counter row's lock: writers racing never share an id."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from apps.realtime.publish import event_record

    def record(index):
        try:
            return event_record(user_id=user.pk, event="generation.progress", data={"index": index})
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(record, range(40)))

    assert sorted(ids) == list(range(1, 41))
    stored = Event.objects.filter(user=user).order_by("seq").values_list("seq", "data")
    assert [seq for seq, _ in stored] == list(range(1, 41))
    assert sorted(data["index"] for _, data in stored) == list(range(40))
