import json
import uuid

import pytest
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.services import api_key_create, api_key_revoke
from apps.credits.models import CreditAccount, LedgerEntry
from apps.generations import services
from apps.generations.models import Generation, Status
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def api(user):
    return ApiClient(api_key_create(user=user, name="tests").secret)


class ApiClient:
    def __init__(self, secret: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def get(self, path, **params):
        return self.client.get(f"/api/v1{path}", params, headers=self.headers)

    def post(self, path, body=None, *, raw: str | None = None):
        data = raw if raw is not None else json.dumps(body or {})
        return self.client.post(f"/api/v1{path}", data, content_type="application/json", headers=self.headers)


@pytest.mark.parametrize("secret", [None, "dr_not-a-real-key", "garbage"])
def test_requests_without_a_valid_key_are_401(secret):
    response = ApiClient(secret).get("/generations")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Send a valid API key as 'Authorization: Bearer <key>'.", "code": "unauthenticated",
    }


def test_a_revoked_key_is_401(user):
    issued = api_key_create(user=user, name="old")
    api_key_revoke(user=user, api_key_id=issued.api_key.pk)
    assert ApiClient(issued.secret).get("/balance").status_code == 401


def test_create_returns_the_queued_generation(api, user):
    response = api.post("/generations", {"model": "offline-sketch", "prompt": "a kite", "aspect_ratio": "16:9",
                                         "num_images": 2, "seed": 99})
    assert response.status_code == 201
    body = response.json()
    generation = Generation.objects.get()
    assert body | {"created_at": None} == {
        "id": str(generation.id), "status": "queued", "model": "offline-sketch", "prompt": "a kite",
        "negative_prompt": "", "aspect_ratio": "16:9", "tier": "draft", "width": 688, "height": 384,
        "num_images": 2, "duration_seconds": None, "seed": "99", "progress": 0.0, "quoted_credits": 2,
        "images_delivered": 0, "charged_credits": 0, "error": None,
        "notes": [],
        "cached": False, "images": [],
        "created_at": None, "finished_at": None,
    }
    assert api.get("/balance").json() == {"balance": 98}


def test_a_finished_generation_has_signed_image_links(api, user):
    generation = GenerationFactory(owner=user)
    services.generation_run(generation_id=generation.id)
    body = api.get(f"/generations/{generation.id}").json()
    assert body["status"] == "succeeded" and body["progress"] == 1.0
    [image] = body["images"]
    assert (image["width"], image["height"]) == (512, 512)
    assert image["url"].startswith("http://127.0.0.1:8000/files/")
    file_response = Client().get(image["url"].removeprefix("http://127.0.0.1:8000"))
    assert file_response.status_code == 200
    assert file_response["Content-Type"] == "image/png"


@pytest.mark.parametrize(
    "body, status, code, detail",
    [
        ({"model": "offline-sketch", "prompt": ""}, 422, "invalid_request", "Describe the image you want in the prompt."),
        ({"model": "offline-sketch", "prompt": "x", "tier": "huge"}, 422, "invalid_request",
         "Offline Sketch offers these sizes: draft, standard."),
        ({"model": "flux-pro", "prompt": "x"}, 422, "model_unavailable",
         "FLUX Pro is unavailable: Not available on this server yet: its provider is not configured."),
        ({"prompt": "x"}, 422, "invalid_request", "Invalid request. model: Field required"),
        ({"model": "offline-sketch", "prompt": "x", "num_images": "many"}, 422, "invalid_request",
         "Invalid request. num_images: Input should be a valid integer, unable to parse string as an integer"),
    ],
)
def test_bad_requests_get_one_error_shape(api, body, status, code, detail):
    response = api.post("/generations", body)
    assert (response.status_code, response.json()) == (status, {"detail": detail, "code": code})
    assert Generation.objects.count() == 0


def test_malformed_json_is_a_clear_4xx(api):
    response = api.post("/generations", raw="{not json")
    assert (response.status_code, response.json()) == (
        400, {"detail": "Cannot parse request body", "code": "invalid_request"},
    )
    assert Generation.objects.count() == 0


def test_insufficient_credits_is_402_and_nothing_is_reserved(api, user):
    CreditAccount.objects.filter(user=user).update(balance=1)
    response = api.post("/generations", {"model": "offline-studio", "prompt": "x"})
    assert (response.status_code, response.json()) == (
        402, {"detail": "This needs 3 credits and your balance is 1.", "code": "insufficient_credits"},
    )
    assert Generation.objects.count() == 0


def test_the_insufficient_credits_message_says_1_credit_not_1_credits(api, user):
    CreditAccount.objects.filter(user=user).update(balance=0)
    response = api.post("/generations", {"model": "offline-sketch", "prompt": "x"})
    assert (response.status_code, response.json()) == (
        402, {"detail": "This needs 1 credit and your balance is 0.", "code": "insufficient_credits"},
    )


def test_list_pages_newest_first_with_a_cursor(api, user, other_user):
    made = [GenerationFactory(owner=user) for _ in range(5)]
    GenerationFactory(owner=other_user)
    first = api.get("/generations", limit=2).json()
    second = api.get("/generations", limit=2, cursor=first["next_cursor"]).json()
    third = api.get("/generations", limit=2, cursor=second["next_cursor"]).json()
    ids = [item["id"] for page in (first, second, third) for item in page["items"]]
    assert ids == [str(g.id) for g in reversed(made)]
    assert third["next_cursor"] is None


def test_a_finished_generation_s_list_item_is_cached_until_it_changes(api, user):
    done = GenerationFactory(owner=user)
    services.generation_run(generation_id=done.id)
    active = GenerationFactory(owner=user)
    first = api.get("/generations").json()["items"]
    assert [item["id"] for item in first] == [str(active.id), str(done.id)]
    with CaptureQueriesContext(connection) as queries:
        assert api.get("/generations").json()["items"] == first
    # Only the active one is read whole: its images are the one images query.
    images = [q["sql"] for q in queries.captured_queries if "generations_generationimage" in q["sql"]]
    assert len(images) == 1 and str(done.id).replace("-", "") not in images[0]
    Generation.objects.filter(pk=done.pk).update(prompt="renamed", revision=F("revision") + 1,
                                                 updated_at=timezone.now())
    assert api.get("/generations").json()["items"][1]["prompt"] == "renamed"


def test_the_list_and_my_images_are_made_fresh_while_the_cache_is_away(api, user, monkeypatch):
    from django.core.cache import caches
    from redis.exceptions import ConnectionError as RedisConnectionError

    done = GenerationFactory(owner=user)
    services.generation_run(generation_id=done.id)

    def away(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(caches["fragments"], "get_many", away)
    monkeypatch.setattr(caches["fragments"], "set_many", away)
    assert [item["id"] for item in api.get("/generations").json()["items"]] == [str(done.id)]
    browser = Client()
    browser.force_login(user)
    page = browser.get("/images/")
    assert page.status_code == 200 and f"gen-{done.id}" in page.content.decode()


def test_a_bad_cursor_is_a_clear_400(api):
    response = api.get("/generations", cursor="%%%")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")


def test_another_users_generation_is_404_and_nothing_changes(api, other_user):
    theirs = GenerationFactory(owner=other_user)
    for response in (api.get(f"/generations/{theirs.id}"), api.post(f"/generations/{theirs.id}/cancel"),
                     api.get(f"/generations/{uuid.uuid4()}")):
        assert (response.status_code, response.json()) == (404, {"detail": "Generation not found.", "code": "not_found"})
    assert Generation.objects.get(pk=theirs.pk).status == Status.QUEUED
    assert LedgerEntry.objects.filter(generation=theirs).count() == 1


def test_cancel_through_the_api(api, user):
    generation = GenerationFactory(owner=user)
    response = api.post(f"/generations/{generation.id}/cancel")
    assert (response.status_code, response.json()["status"]) == (200, "canceled")
    assert api.get("/balance").json() == {"balance": 100}
    services.generation_run(generation_id=generation.id)
    done = GenerationFactory(owner=user)
    services.generation_run(generation_id=done.id)
    response = api.post(f"/generations/{done.id}/cancel")
    assert (response.status_code, response.json()["code"]) == (409, "not_cancelable")


def test_models_list_publishes_no_internal_names(api):
    response = api.get("/models")
    text = response.content.decode()
    assert response.status_code == 200
    assert [m["slug"] for m in response.json()][:4] == ["offline-sketch", "offline-studio", "offline-edit", "offline-upscale"]
    sketch = response.json()[0]
    assert sketch["tiers"] == [
        {"key": "draft", "label": "Draft", "width": 512, "height": 512, "price_per_image": 1},
        {"key": "standard", "label": "Standard", "width": 1024, "height": 1024, "price_per_image": 2},
    ]
    by_slug = {m["slug"]: m for m in response.json()}
    assert (sketch["available"], by_slug["face-swap"]["available"], by_slug["flux-schnell"]["available"]) == (
        True, True, False)  # face swap runs offline when no provider is configured
    for internal in ("procedural-sketch-v1", "black-forest-labs", "replicate", "fal-ai", "routes"):
        assert internal not in text


def test_openapi_docs_are_served():
    assert Client().get("/api/v1/docs").status_code == 200
    schema = Client().get("/api/v1/openapi.json").json()
    assert {"/api/v1/generations", "/api/v1/generations/{generation_id}", "/api/v1/models", "/api/v1/balance"} <= set(
        schema["paths"]
    )


@pytest.mark.parametrize(("field", "value"), [
    ("num_images", True), ("num_images", 2.5), ("seed", True), ("seed", False),
    ("strength", True), ("duration_seconds", True),
])
def test_wrong_typed_numbers_are_refused_not_coerced(field, value, user):
    response = Client().post(
        "/api/v1/generations", json.dumps({"model": "offline-sketch", "prompt": "a kite", field: value}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key_create(user=user, name='t').secret}"},
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_request"), response.content
    assert field in response.json()["detail"]
    assert not Generation.objects.exists()
