import pytest

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_create
from tests.apiclient import ApiClient


@pytest.fixture
def api(user):
    return ApiClient(api_key_create(user=user, name="first").secret)


def test_create_returns_the_secret_once_and_it_works(api, user):
    response = api.post("/api-keys", {"name": "  ci  "})
    assert response.status_code == 201
    body = response.json()
    key = ApiKey.objects.get(name="ci")
    assert body | {"created_at": None} == {
        "id": key.pk, "name": "ci", "prefix": body["secret"][:10], "created_at": None, "last_used_at": None,
        "revoked_at": None, "secret": body["secret"],
    }
    assert body["secret"].startswith("dr_") and key.key_hash != body["secret"]
    assert ApiClient(body["secret"]).get("/balance").json() == {"balance": 100}
    listed = api.get("/api-keys").json()
    assert [item["name"] for item in listed["items"]] == ["ci", "first"]
    assert all("secret" not in item for item in listed["items"])


def test_the_list_is_yours_only_and_cursor_paginated(api, user, other_user):
    for n in range(3):
        api_key_create(user=user, name=f"k{n}")
    api_key_create(user=other_user, name="theirs")
    first = api.get("/api-keys", limit=2).json()
    second = api.get("/api-keys", limit=2, cursor=first["next_cursor"]).json()
    assert [i["name"] for i in first["items"] + second["items"]] == ["k2", "k1", "k0", "first"]
    assert second["next_cursor"] is None


def test_revoke_stops_the_key_and_another_users_key_is_404(api, user, other_user):
    issued = api_key_create(user=user, name="old")
    theirs = api_key_create(user=other_user, name="theirs")
    response = api.post(f"/api-keys/{issued.api_key.pk}/revoke")
    assert response.status_code == 200 and response.json()["revoked_at"] is not None
    assert ApiClient(issued.secret).get("/balance").status_code == 401
    for key_id in (theirs.api_key.pk, 2**40):
        response = api.post(f"/api-keys/{key_id}/revoke")
        assert (response.status_code, response.json()) == (404, {"detail": "API key not found.", "code": "not_found"})
    assert ApiClient(theirs.secret).get("/balance").status_code == 200
    assert api.post(f"/api-keys/{2**70}/revoke").status_code == 422


def test_a_blank_name_is_refused(api):
    response = api.post("/api-keys", {"name": "   "})
    assert (response.status_code, response.json()) == (
        400, {"detail": "Give the key a name so you can recognise it later.", "code": "invalid_name"},
    )


def test_a_replayed_create_does_not_keep_or_show_the_secret_again(api, user):
    from apps.core.models import IdempotencyKey

    first = api.post("/api-keys", {"name": "once"}, key="create-1")
    again = api.post("/api-keys", {"name": "once"}, key="create-1")
    assert first.json()["secret"].startswith("dr_")
    assert again.json() == first.json() | {"secret": None}
    assert again["Idempotent-Replayed"] == "true"
    assert ApiKey.objects.filter(name="once").count() == 1
    assert first.json()["secret"].encode() not in bytes(IdempotencyKey.objects.get().body)


def test_api_keys_are_capped_per_person_and_a_revoked_key_frees_a_place(api, user, other_user, settings, client):
    settings.API_KEYS_MAX_PER_USER = 3
    assert api.post("/api-keys", {"name": "two"}).status_code == 201
    assert api.post("/api-keys", {"name": "three"}).status_code == 201
    refused = api.post("/api-keys", {"name": "four"})
    assert (refused.status_code, refused.json()) == (409, {
        "detail": "You can have at most 3 API keys: revoke one you no longer use first.", "code": "too_many_api_keys",
    })
    client.force_login(user)
    page = client.post("/account/api-keys/", {"name": "four"})
    assert page.status_code == 422 and b"You can have at most 3 API keys" in page.content
    assert api_key_create(user=other_user, name="theirs")  # the cap is per person
    api.post(f"/api-keys/{ApiKey.objects.get(name='two').pk}/revoke")
    assert api.post("/api-keys", {"name": "four"}).status_code == 201
    assert ApiKey.objects.filter(user=user, revoked_at__isnull=True).count() == 3
