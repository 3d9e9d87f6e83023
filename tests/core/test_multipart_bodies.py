"""Multipart bodies are parsed only where files are taken; elsewhere a form may be multipart (as the
test client sends it) but small, and its file parts are dropped unread. A body Django can't parse
gets our error answer."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.core.body_limit import FILE_ROUTES

pytestmark = pytest.mark.django_db


def test_the_routes_that_take_files_are_registered():
    assert {"media:upload", "media:mask_create", "api:upload_create", "batches:batches",
            "openai:images_edit"} <= FILE_ROUTES


@pytest.mark.parametrize(("path", "kind"), [("/healthz", "text/html"), ("/accounts/login/", "text/html"),
                                            ("/api/v1/generations", "application/json"),
                                            ("/v1/images/generations", "application/json")])
def test_a_large_multipart_body_where_no_file_is_taken_is_refused_unread(path, kind, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    file = SimpleUploadedFile("big.bin", b"a" * 20_000)
    response = Client(enforce_csrf_checks=True).post(path, {"f": file})
    assert response.status_code == 413, (path, response.status_code, response.content[:200])
    assert response["Content-Type"].startswith(kind)
    assert response["X-Content-Type-Options"] == "nosniff"


def test_file_parts_sent_where_no_file_is_taken_are_dropped(user):
    client = Client()
    response = client.post("/accounts/login/", {"login": user.email, "password": "wrong",
                                                "f": SimpleUploadedFile("a.txt", b"x" * 5000)})
    assert response.status_code == 200  # the form answered, the file part was never kept
    assert not response.wsgi_request.FILES


@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary=",
                                          "multipart/form-data; boundary=" + "x" * 300])
@pytest.mark.parametrize("path", ["/healthz", "/accounts/login/", "/photos/upload/", "/batches/"])
def test_an_unreadable_multipart_body_is_our_error_page(path, content_type, user):
    client = Client()
    client.force_login(user)
    response = client.generic("POST", path, b"--x\r\nbroken", content_type=content_type)
    assert response.status_code == 400, (path, response.status_code)
    assert b"The form could not be read" in response.content
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("target", "takes_files"), [
    (b"/healthz", False), (b"/api/v1/generations?x=1", False), (b"/v1/images/generations", False),
    (b"/no/such/page", False), (b"/api/v1/uploads", True), (b"/v1/images/edits", True), (b"/photos/upload/", True),
    (b"/api/v1/%75ploads", True), (b"\xff/healthz", False), (None, False),
])
def test_the_server_reads_a_forms_size_except_where_files_are_taken(target, takes_files, settings):
    """daphne's per-request cap, decided from the request line before any of the body is read."""
    from apps.core.body_limit import body_cap, target_path

    expected = settings.REQUEST_MAX_BODY_BYTES if takes_files else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert body_cap(target_path(target)) == expected
    # Without credentials no route takes files: the small cap everywhere.
    assert body_cap(target_path(target), credentials=False) == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = None  # Django's check off: the server's cap only
    assert body_cap(target_path(target)) == settings.REQUEST_MAX_BODY_BYTES


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, False), ({b"cookie": [b"csrftoken=abc"]}, False), ({b"cookie": [b"csrftoken=abc; sessionid=x"]}, True),
    ({b"authorization": [b"Bearer dr_x"]}, True),
])
def test_credentials_are_seen_in_the_raw_headers(headers, expected):
    from twisted.web.http_headers import Headers

    from apps.core.body_limit import carries_credentials

    assert carries_credentials(Headers(headers)) is expected


def test_the_servers_413_is_worded_as_each_api_words_its_errors():
    import json

    from apps.core.body_limit import _refusal

    for path, shape in (("/api/v1/generations", {"detail", "code"}), ("/healthz", {"detail", "code"}),
                        ("/v1/images/generations", {"error"})):
        head, _, body = _refusal(path).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413") and f"Content-Length: {len(body)}".encode() in head
        assert set(json.loads(body)) == shape, (path, body)
