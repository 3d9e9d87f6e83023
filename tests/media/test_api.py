import hashlib
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.accounts.services import api_key_create
from apps.core.files import signed_file_url
from apps.media.models import Upload
from apps.media.storage import file_read

from .factories import UploadFactory
from .images import PDF, bomb_png, encode, mask_image, phone_jpeg, photo_bytes, truncated_jpeg

SITE = "http://127.0.0.1:8000"


class ApiClient:
    def __init__(self, secret: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def get(self, path, **params):
        return self.client.get(f"/api/v1{path}", params, headers=self.headers)

    def upload(self, content: bytes, *, name="photo.jpg", content_type="image/jpeg", **fields):
        data = {"file": SimpleUploadedFile(name, content, content_type=content_type), **fields}
        return self.client.post("/api/v1/uploads", data, headers=self.headers)

    def post_json(self, path, body):
        return self.client.post(f"/api/v1{path}", body, content_type="application/json", headers=self.headers)


@pytest.fixture
def api(user):
    return ApiClient(api_key_create(user=user, name="tests").secret)


def test_upload_a_photo(api, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.upload(phone_jpeg(64, 32), name="IMG_0001.JPG", kind="photo")
    assert response.status_code == 201, response.content
    body = response.json()
    upload = Upload.objects.get()
    assert body | {"created_at": None, "url": None, "preview_url": None, "thumbnail_url": None} == {
        "id": str(upload.pk),
        "kind": "photo",
        "width": 32,
        "height": 64,
        "format": "JPEG",
        "size_bytes": upload.size_bytes,
        "sha256": upload.sha256,
        "blurhash": None,
        "photo_id": None,
        "operation": None,
        "operation_params": {},
        "created_at": None,
        "url": None,
        "preview_url": None,
        "thumbnail_url": None,
    }
    assert body["url"] == SITE + signed_file_url(upload.file)
    assert body["preview_url"] is None  # made after the response's transaction committed
    assert upload.owner == user

    later = api.get(f"/uploads/{upload.pk}").json()
    assert later["preview_url"].startswith(SITE + "/files/") and later["thumbnail_url"].startswith(
        SITE + "/files/"
    )
    assert len(later["blurhash"]) == 28
    download = Client().get(later["url"].removeprefix(SITE))
    assert download.status_code == 200 and download["Content-Type"] == "image/jpeg"
    content = b"".join(download.streaming_content)
    assert hashlib.sha256(content).hexdigest() == upload.sha256
    assert b"Exif" not in content


def test_upload_a_mask_for_a_photo(api, user):
    photo = UploadFactory(owner=user, width=64, height=48)
    content = encode(mask_image(64, 48, box=(4, 4, 20, 20)), "PNG")
    response = api.upload(
        content, name="mask.png", content_type="image/png", kind="mask", photo_id=str(photo.pk)
    )
    assert response.status_code == 201, response.content
    assert response.json()["photo_id"] == str(photo.pk)
    assert response.json()["kind"] == "mask" and response.json()["format"] == "PNG"


@pytest.mark.parametrize(
    "content, fields, status, code, detail",
    [
        (PDF, {}, 422, "unsupported_image", "This file is not a JPEG, PNG or WebP image."),
        (
            b"<html><body>hi</body></html>",
            {},
            422,
            "unsupported_image",
            "This file is not a JPEG, PNG or WebP image.",
        ),
        (
            truncated_jpeg(),
            {},
            422,
            "image_corrupt",
            "The image is damaged or incomplete and could not be read.",
        ),
        (bomb_png(), {}, 413, "image_too_large", "The image has too many pixels: the limit is 40 MP."),
        (
            photo_bytes(16, 16),
            {"kind": "avatar"},
            422,
            "invalid_kind",
            "The kind must be photo, mask or reference.",
        ),
        (
            photo_bytes(16, 16),
            {"kind": "mask"},
            422,
            "mask_photo_required",
            "A mask needs the photo it belongs to (photo_id).",
        ),
        (b"", {}, 422, "file_empty", "The file is empty."),
    ],
    ids=["renamed-pdf", "renamed-html", "truncated-jpeg", "bomb", "bad-kind", "mask-without-photo", "empty"],
)
def test_refused_uploads_have_a_clear_error_body(api, content, fields, status, code, detail):
    response = api.upload(content, name="holiday.jpg", content_type="image/jpeg", **fields)
    assert response.status_code == status
    assert response.json() == {"detail": detail, "code": code}
    assert not Upload.objects.exists()


def test_a_file_over_the_byte_limit_is_413(api, settings):
    settings.MEDIA_MAX_UPLOAD_BYTES = 50_000
    response = api.upload(bytes(200_000), name="big.jpg")
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The file is too large: the limit is 0.0476837 MB.",
        "code": "file_too_large",
    }


def test_no_file_is_422(api):
    response = api.client.post("/api/v1/uploads", {"kind": "photo"}, headers=api.headers)
    assert response.status_code == 422
    assert response.json() == {"detail": "Attach an image file.", "code": "file_required"}


def test_list_is_owner_scoped_and_cursor_paginated(api, user, other_user):
    mine = [UploadFactory(owner=user) for _ in range(3)]
    UploadFactory(owner=other_user)
    first = api.get("/uploads", limit=2).json()
    assert [item["id"] for item in first["items"]] == [str(mine[2].pk), str(mine[1].pk)]
    second = api.get("/uploads", limit=2, cursor=first["next_cursor"]).json()
    assert [item["id"] for item in second["items"]] == [str(mine[0].pk)]
    assert second["next_cursor"] is None
    assert api.get("/uploads", kind="mask").json() == {"items": [], "next_cursor": None}


def test_another_users_upload_is_404(api, other_user):
    theirs = UploadFactory(owner=other_user)
    for path in (f"/uploads/{theirs.pk}", f"/uploads/{uuid.uuid4()}"):
        response = api.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Upload not found.", "code": "not_found"}
    response = api.post_json(f"/uploads/{theirs.pk}/operations", {"operation": "crop"})
    assert response.status_code == 404


def test_apply_an_operation(api, user):
    photo = UploadFactory(owner=user, width=320, height=240)
    response = api.post_json(
        f"/uploads/{photo.pk}/operations", {"operation": "crop", "params": {"aspect": "16:9"}}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["width"], body["height"], body["photo_id"], body["operation"]) == (
        320,
        180,
        str(photo.pk),
        "crop",
    )
    assert body["operation_params"] == {"aspect": "16:9"}
    bad = api.post_json(f"/uploads/{photo.pk}/operations", {"operation": "crop", "params": {"aspect": "7:3"}})
    assert bad.status_code == 422
    assert bad.json() == {
        "detail": "Crop to aspect ratio: Aspect ratio: not one of the choices",
        "code": "invalid_operation",
    }


def test_requests_without_a_key_are_401():
    response = ApiClient(None).get("/uploads")
    assert response.status_code == 401


def test_stored_files_are_the_cleaned_bytes(api, user):
    response = api.upload(phone_jpeg(64, 32))
    upload = Upload.objects.get(pk=response.json()["id"])
    assert b"PhoneCo" not in file_read(upload.file)
