"""The live socket and signed file links, attacked from outside: through the whole ASGI stack with
real session cookies, another person's socket hears nothing of A's work and a forged or ended
session gets no socket; a file link that is tampered with, re-pointed or expired is a 404."""

import json
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.test import Client

from apps.core.files import SALT, signed_file_path, signed_file_url
from apps.media.models import Upload
from apps.realtime.publish import publish_to_user
from config.asgi import application
from tests.accounts.factories import UserFactory
from tests.media.factories import UploadFactory

from .conftest import client_for, tally

HOST = (b"host", b"127.0.0.1:8000")
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def socket(cookie: str | None):
    headers = [HOST, ORIGIN] + ([(b"cookie", f"sessionid={cookie}".encode())] if cookie is not None else [])
    return WebsocketCommunicator(application, "/ws/live/", headers=headers)


@pytest.mark.django_db(transaction=True)
async def test_another_persons_socket_hears_nothing_and_forged_sessions_get_none():
    a, b = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    clients = [Client(), Client()]
    for client, user in zip(clients, (a, b), strict=True):
        await sync_to_async(client.force_login)(user)
    a_cookie, b_cookie = (c.cookies["sessionid"].value for c in clients)
    mine, theirs = socket(a_cookie), socket(b_cookie)
    assert (await mine.connect())[0] and (await theirs.connect())[0]
    await sync_to_async(publish_to_user)(user_id=a.pk, event="generation.progress", data={"id": "a-only"}, html="<p>A</p>")
    assert json.loads(await mine.receive_from(timeout=3))["data"] == {"id": "a-only"}
    assert await theirs.receive_nothing(timeout=0.3)
    await theirs.send_to(text_data=json.dumps({"subscribe": f"user.{a.pk}"}))  # the socket takes no orders
    await sync_to_async(publish_to_user)(user_id=a.pk, event="generation.progress", data={"id": "again"})
    assert json.loads(await mine.receive_from(timeout=3))["data"] == {"id": "again"}
    assert await theirs.receive_nothing(timeout=0.3)
    await mine.disconnect()
    await theirs.disconnect()

    await sync_to_async(clients[1].logout)()
    for cookie in (b_cookie, a_cookie[:-2] + "xx", "", "../../etc/passwd", "x" * 4096, None):
        communicator = socket(cookie)
        connected, code = await communicator.connect()
        assert (connected, code) == (False, 4401), cookie
        tally("hostile inputs: sockets")


def test_file_links_that_are_tampered_repointed_or_expired_are_404(world, settings):
    upload = Upload.objects.get(pk=world.params["upload_id"])
    other = UploadFactory(owner=world.stranger, width=32, height=24)
    url = signed_file_url(upload.file)
    client = client_for(world.stranger)  # links are bearer capabilities: whoever holds one may read it
    assert client.get(url).status_code == 200
    token = url.rsplit("/", 1)[1]
    payload, _, signature = token.rpartition(":")
    forged = [
        # A character inside the sealed part changed (not the last one: base64's final character
        # may carry padding bits that decode to the same bytes).
        token[:-10] + ("A" if token[-10] != "A" else "B") + token[-9:],
        signing.TimestampSigner(salt=SALT).sign_object(other.file).rpartition(":")[0] + ":" + signature,
        payload.replace(payload[:4], "eyJh") + ":" + signature,
        signing.TimestampSigner(key="not-our-key", salt=SALT).sign_object(upload.file),
        signing.TimestampSigner(salt="another-salt").sign_object(upload.file),
        signing.TimestampSigner(salt=SALT).sign_object("../../../etc/passwd"),  # even a signed traversal finds nothing
        signing.TimestampSigner(salt=SALT).sign_object(upload.file + "/../../secret_key"),
        "", ":", "x" * 5000, "%00", "..%2F..%2Fetc%2Fpasswd",
    ]
    for bad in forged:
        response = client.get(f"/files/{bad}") if bad else client.get("/files/")
        # (a validly signed path outside the storage is refused by the storage itself: 400)
        assert response.status_code in (404, 400 if "etc" in str(signed_file_path(bad)) or "secret" in str(
            signed_file_path(bad)) else 404), (bad[:60], response.status_code)
        tally("hostile inputs: file links")
    for method in ("post", "put", "delete"):
        assert getattr(client, method)(url).status_code == 405
    settings.FILE_URL_TTL = 60
    old = signing.TimestampSigner(salt=SALT)
    old.timestamp = lambda: signing.b62_encode(int(time.time()) - 3600)
    expired = old.sign_object(upload.file)
    assert signed_file_path(expired) is None and client.get(f"/files/{expired}").status_code == 404
    tally("hostile inputs: file links")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("origin", "accepted"), [
    (b"http://127.0.0.1:8000", True),
    (b"HTTP://127.0.0.1:8000", True),
    (b"https://127.0.0.1:8000", False),  # another scheme
    (b"http://127.0.0.1:9999", False),  # another port of the same host
    (b"http://127.0.0.1", False),
    (b"http://localhost:8000", False),  # another allowed host, not this page's
    (b"null", False),
    (b"http://[127.0.0.1]:8000", False),
    (b"", False),
])
async def test_the_socket_origin_must_match_scheme_host_and_port(origin, accepted):
    user = await sync_to_async(UserFactory)()
    client = Client()
    await sync_to_async(client.force_login)(user)
    headers = [HOST, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]
    communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers + ([(b"origin", origin)]
                                                                                     if origin else []))
    connected, _ = await communicator.connect()
    assert connected is accepted, origin
    if connected:
        await communicator.disconnect()
    tally("hostile inputs: sockets")


@pytest.mark.django_db(transaction=True)
async def test_a_socket_closes_when_its_session_signs_out_and_when_the_account_is_deactivated():
    user = await sync_to_async(UserFactory)()
    first, second = Client(), Client()
    for client in (first, second):
        await sync_to_async(client.force_login)(user)
    one, two = socket(first.cookies["sessionid"].value), socket(second.cookies["sessionid"].value)
    assert (await one.connect())[0] and (await two.connect())[0]
    await sync_to_async(first.post)("/accounts/logout/")
    assert await one.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
    assert await two.receive_nothing(timeout=0.3)  # the other session is still signed in

    def deactivate():
        user.is_active = False
        user.save(update_fields=["is_active"])

    await sync_to_async(deactivate)()
    assert await two.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}


def test_a_file_link_does_not_reveal_the_owners_user_id(world):
    import base64

    upload = Upload.objects.get(pk=world.params["upload_id"])
    assert f"/{world.owner.pk}/" in f"/{upload.file}"  # storage paths hold it…
    token = signed_file_url(upload.file).rsplit("/", 1)[1]
    decoded = b"".join(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
                       for part in token.replace(":", ".").split(".") if len(part) > 8)
    assert upload.file.encode() not in decoded and upload.file not in token  # …links don't
    assert signed_file_path(token) == upload.file
    assert signed_file_url(upload.file) == signed_file_url(upload.file)  # stable: browsers cache the image
