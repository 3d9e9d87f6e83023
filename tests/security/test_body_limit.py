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


def _reset_peak(pid: int) -> None:
    """Start the process's peak (VmHWM) afresh from its RSS now: the shared stack served other tests."""
    with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def _memory_mb(pid: int) -> dict[str, int]:
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    return {k: int(fields[k].split()[0]) // 1024 for k in ("VmRSS", "VmHWM")}


def test_an_anonymous_40_mb_multipart_post_costs_about_its_size(live):
    """Twisted used to parse every multipart POST with the email package before daphne passed it on
    (~12× the body in memory: +480 MB for 40 MB, even on /healthz); then daphne queued all of it in
    memory for the application (fifty at once: +1.5 GB). A route that takes no files refuses a body
    over DATA_UPLOAD_MAX_MEMORY_SIZE from its Content-Length, before any of it is read."""
    host, port = live.base_url.removeprefix("http://").split(":")
    size = 40 * 1024 * 1024
    head = b'--B\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n\r\n'
    _reset_peak(live.web[0].pid)
    before = _memory_mb(live.web[0].pid)
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST /healthz HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=B\r\n"
                     f"Content-Length: {len(head) + size + 10}\r\nConnection: close\r\n\r\n".encode())
        answer = read_response(sock).partition(b"\r\n\r\n")[0]  # before any of the body is sent
        with pytest.raises(OSError):  # closed: the rest can't be sent
            sock.sendall(head)
            while sent < size:
                sock.sendall(CHUNK)
                sent += len(CHUNK)
    assert answer.startswith(b"HTTP/1.1 413"), answer  # no files here, and far over a form's size
    assert sent < size
    after = _memory_mb(live.web[0].pid)
    assert after["VmHWM"] - before["VmRSS"] < 10, (before, after)
    tally("hostile inputs: 40 MB multipart bodies")


def test_a_body_over_a_forms_size_is_refused_unread_where_no_file_is_taken(live, key):
    """JSON or multipart, under the server's cap but over DATA_UPLOAD_MAX_MEMORY_SIZE, on a route that
    takes no files: a 413 in that interface's error shape before any of the body is sent."""
    host, port = live.base_url.removeprefix("http://").split(":")
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1
    for path, content_type in (("/api/v1/generations", "application/json"), ("/healthz", "multipart/form-data; boundary=B"),
                               ("/v1/images/generations", "application/json")):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
                         f"Content-Type: {content_type}\r\nContent-Length: {size}\r\n\r\n".encode())
            head, _, body = read_response(sock).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413"), (path, head)
        if path.startswith("/v1/"):
            assert json.loads(body)["error"]["message"], body
        else:
            assert json.loads(body)["code"] == "payload_too_large", body
        tally("hostile inputs: oversized bodies")
    assert httpx.get(f"{live.base_url}/healthz", timeout=5, trust_env=False).status_code == 200


def test_a_multipart_body_without_its_boundary_gets_our_error_with_the_security_headers(live):
    for path, kind in (("/healthz", "text/html"), ("/photos/upload/", "text/html"), ("/api/v1/uploads", "application/json")):
        response = httpx.post(f"{live.base_url}{path}", content=b"0123456789", trust_env=False, timeout=10,
                              headers={"Content-Type": "multipart/form-data"})
        assert response.status_code in (400, 401, 403), (path, response.status_code)
        assert response.headers["Content-Type"].startswith(kind), (path, response.headers)
        assert response.headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in response.headers


def test_an_anonymous_upload_gets_the_small_cap_before_its_body_is_read(live):
    """Only signed-in people upload: a large body without credentials is refused from its length."""
    host, port = live.base_url.removeprefix("http://").split(":")
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1
    for path in ("/api/v1/uploads", "/photos/upload/", "/v1/images/edits"):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nCookie: csrftoken=x\r\n"
                f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {size}\r\n\r\n".encode()
            )
            head, _, _ = read_response(sock).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 413"), (path, head)
    tally("hostile inputs: anonymous uploads")
    assert Upload.objects.count() == 0
