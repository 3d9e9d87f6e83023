"""A 1 GB request body against the real server (daphne, as production runs it): refused with a
413 as soon as its size is known — from the Content-Length before any body byte is sent, or once a
chunked body passes REQUEST_MAX_BODY_BYTES — without the server reading or storing the rest; the
server stays healthy and nothing is stored."""

import json
import socket

import httpx
import pytest
from django.conf import settings

from apps.accounts.services import api_key_create
from apps.media.models import Upload
from tests.accounts.factories import UserFactory

from .conftest import tally

pytestmark = pytest.mark.live

GIGABYTE = 1024**3
CHUNK = b"\x00" * (1024 * 1024)


@pytest.fixture
def key(live):
    return api_key_create(user=UserFactory(), name="big bodies").secret


def read_response(sock) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + 60:
        part = sock.recv(65536)
        if not part:
            break
        data += part
    return data


def test_a_declared_1_gb_body_is_refused_before_a_byte_of_it_is_sent(live, key):
    host, port = live.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST /api/v1/uploads HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {GIGABYTE}\r\n\r\n".encode()
        )
        answer = read_response(sock)  # nothing of the body has been sent yet
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413"), head
        assert json.loads(body) == {"detail": "The request is too large.", "code": "payload_too_large"}
        sent = 0
        with pytest.raises(OSError):  # the server closed the connection: the rest can't even be sent
            while sent < GIGABYTE:
                sock.sendall(CHUNK)
                sent += len(CHUNK)
        assert sent < 64 * 1024 * 1024, sent
    tally("hostile inputs: 1 GB bodies")
    assert httpx.get(f"{live.base_url}/healthz", timeout=5, trust_env=False).status_code == 200


def test_a_chunked_1_gb_body_is_cut_off_at_the_cap(live, key):
    sent = 0

    def gigabyte():
        nonlocal sent
        while sent < GIGABYTE:
            sent += len(CHUNK)
            yield CHUNK

    cap = settings.REQUEST_MAX_BODY_BYTES
    with httpx.Client(timeout=30, trust_env=False) as client:
        try:
            response = client.post(f"{live.base_url}/api/v1/uploads", content=gigabyte(), headers={
                "Authorization": f"Bearer {key}", "Content-Type": "multipart/form-data; boundary=x"})
            assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
        except httpx.TransportError:
            pass  # closed while we were still writing: refused all the same
    assert cap < sent < cap + 64 * 1024 * 1024, (cap, sent)  # stopped just past the cap, not at 1 GB
    tally("hostile inputs: 1 GB bodies")
    assert httpx.get(f"{live.base_url}/healthz", timeout=5, trust_env=False).status_code == 200
    assert not Upload.objects.exists()


def test_a_body_under_the_cap_still_gets_the_applications_answer(live, key):
    """Over the per-file limit but under the server's cap: the view's own 413 with its own words."""
    size = settings.MEDIA_MAX_UPLOAD_BYTES + 1024 * 1024
    assert size < settings.REQUEST_MAX_BODY_BYTES
    response = httpx.post(f"{live.base_url}/api/v1/uploads", files={"file": ("big.png", bytes(size), "image/png")},
                          headers={"Authorization": f"Bearer {key}"}, timeout=30, trust_env=False)
    assert response.status_code == 413 and response.json()["code"] == "file_too_large"
    tally("hostile inputs: 1 GB bodies")
    assert not Upload.objects.exists()
