import json

import pytest
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from apps.realtime.groups import user_group
from apps.realtime.routing import websocket_urlpatterns
from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def connect(user):
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/live/")
    communicator.scope["user"] = user
    return communicator


async def test_anonymous_sockets_are_refused():
    communicator = connect(AnonymousUser())
    connected, code = await communicator.connect()
    assert (connected, code) == (False, 4401)


async def test_a_user_receives_their_own_events_and_no_one_elses(user, other_user):
    mine, theirs = connect(user), connect(other_user)
    assert (await mine.connect())[0] and (await theirs.connect())[0]
    message = {"type": "generation.progress", "data": {"progress": 0.5}, "html": "<p>x</p>"}
    await get_channel_layer().group_send(user_group(user.pk), {"type": "live.event", "text": json.dumps(message)})
    assert json.loads(await mine.receive_from(timeout=2)) == message
    assert await theirs.receive_nothing(timeout=0.2)
    await mine.disconnect()
    await theirs.disconnect()


@pytest.mark.parametrize("origin, accepted", [(b"http://127.0.0.1:8000", True), (b"http://evil.example", False)])
async def test_the_asgi_stack_refuses_foreign_origins(user, origin, accepted):
    from asgiref.sync import sync_to_async
    from django.test import Client

    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application, "/ws/live/", headers=[(b"origin", origin), (b"host", b"127.0.0.1:8000"), (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect()
    assert connected is accepted
    if connected:
        await communicator.disconnect()
