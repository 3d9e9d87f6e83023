import threading
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from apps.accounts.services import api_key_create
from apps.core.idempotency import idempotency_keys_purge
from apps.core.models import IdempotencyKey
from apps.credits.selectors import credits_balance_get
from apps.generations.models import Generation
from apps.media.models import Upload
from tests.apiclient import ApiClient
from tests.media.images import photo_bytes

pytestmark = pytest.mark.usefixtures("catalog")

BODY = {"model": "offline-sketch", "prompt": "a kite over the sea", "seed": 7}


@pytest.fixture
def api(user):
    return ApiClient(api_key_create(user=user, name="tests").secret)


def test_a_repeat_returns_the_stored_response_and_does_nothing(api, user):
    first = api.post("/generations", BODY, key="key-1")
    again = api.post("/generations", {"seed": 7, "prompt": "a kite over the sea", "model": "offline-sketch"},
                     key="key-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert (first.get("Idempotent-Replayed"), again["Idempotent-Replayed"]) == (None, "true")
    assert again["Content-Type"] == "application/json; charset=utf-8"
    assert Generation.objects.count() == 1
    assert credits_balance_get(user=user) == 99
    record = IdempotencyKey.objects.get()
    assert (record.user, record.key, record.method, record.path, record.status_code) == (
        user, "key-1", "POST", "/api/v1/generations", 201,
    )


def test_without_a_key_each_post_does_the_work(api):
    api.post("/generations", BODY)
    api.post("/generations", BODY)
    assert Generation.objects.count() == 2
    assert IdempotencyKey.objects.count() == 0


def test_the_same_key_with_another_body_or_path_is_409(api):
    api.post("/generations", BODY, key="key-1")
    for response in (
        api.post("/generations", BODY | {"prompt": "a different kite"}, key="key-1"),
        api.post(f"/generations/{Generation.objects.get().id}/cancel", key="key-1"),
    ):
        assert (response.status_code, response.json()) == (409, {
            "detail": "This Idempotency-Key was already used with a different request. "
                      "Use a new key for a new request.",
            "code": "idempotency_key_reused",
        })
    assert Generation.objects.get().status == "queued"


def test_keys_belong_to_one_user(api, other_user):
    theirs = ApiClient(api_key_create(user=other_user, name="theirs").secret)
    api.post("/generations", BODY, key="shared")
    response = theirs.post("/generations", BODY | {"prompt": "their own"}, key="shared")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert sorted(Generation.objects.values_list("prompt", flat=True)) == ["a kite over the sea", "their own"]


def test_a_refused_request_keeps_no_key_so_it_can_be_corrected(api):
    refused = api.post("/generations", BODY | {"tier": "huge"}, key="key-1")
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_request")
    assert IdempotencyKey.objects.count() == 0
    response = api.post("/generations", BODY, key="key-1")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Generation.objects.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "ünïcode"])
def test_a_malformed_key_is_400(api, key):
    response = api.post("/generations", BODY, key=key)
    assert (response.status_code, response.json()) == (400, {
        "detail": "The Idempotency-Key header must be 1 to 255 printable ASCII characters.",
        "code": "idempotency_key_invalid",
    })
    assert Generation.objects.count() == 0


def test_without_a_valid_api_key_the_key_is_ignored_and_the_answer_is_401():
    response = ApiClient("dr_wrong").post("/generations", BODY, key="key-1")
    assert response.status_code == 401
    assert IdempotencyKey.objects.count() == 0


def test_keys_expire_after_24_hours(api, user):
    api.post("/generations", BODY, key="old")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    response = api.post("/generations", BODY, key="old")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Generation.objects.count() == 2
    assert IdempotencyKey.objects.get().created_at > timezone.now() - timedelta(minutes=1)


def test_the_purge_deletes_only_keys_older_than_24_hours(api):
    api.post("/generations", BODY, key="fresh")
    api.post("/generations", BODY | {"seed": 8}, key="stale")
    IdempotencyKey.objects.filter(key="stale").update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]


def test_a_key_still_in_progress_is_409_with_retry_after(api, user, settings):
    settings.IDEMPOTENCY_WAIT_SECONDS = 0.1
    api.post("/generations", BODY, key="busy")
    # As if the first request were still running:
    IdempotencyKey.objects.update(status_code=None, body=b"", completed_at=None)
    response = api.post("/generations", BODY, key="busy")
    assert (response.status_code, response.json()["code"], response["Retry-After"]) == (
        409, "idempotency_key_in_progress", "1",
    )
    assert Generation.objects.count() == 1


def test_multipart_uploads_are_idempotent_too(api):
    content = photo_bytes()

    def upload(name="photo.png"):
        return api.multipart("/uploads", {"file": SimpleUploadedFile(name, content, "image/png"), "kind": "photo"},
                             key="upload-1")

    first, again = upload(), upload()
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Upload.objects.count() == 1
    assert upload(name="other-name.png").status_code == 409


def test_the_openapi_schema_documents_the_header_and_the_error_body():
    from django.test import Client

    schema = Client().get("/api/v1/openapi.json").json()
    create = schema["paths"]["/api/v1/generations"]["post"]
    assert [p["name"] for p in create["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]
    assert create["responses"]["4XX"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    listing = schema["paths"]["/api/v1/generations"]["get"]
    assert "Idempotency-Key" not in [p["name"] for p in listing.get("parameters", [])]
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail", "code"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_do_the_work_once(user, settings):
    from apps.catalog.services import catalog_load

    catalog_load()
    settings.IDEMPOTENCY_WAIT_SECONDS = 10
    secret = api_key_create(user=user, name="race").secret
    barrier = threading.Barrier(2)
    responses = []

    def send():
        try:
            barrier.wait()
            responses.append(ApiClient(secret).post("/generations", BODY, key="race-1"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r.status_code for r in responses) == [201, 201]
    assert responses[0].content == responses[1].content
    assert sorted(r.get("Idempotent-Replayed", "") for r in responses) == ["", "true"]
    assert Generation.objects.count() == 1
    assert credits_balance_get(user=user) == 99
