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
