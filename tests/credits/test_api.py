from datetime import UTC, datetime, timedelta

import pytest

from apps.accounts.services import api_key_create
from apps.credits.models import LedgerEntry
from apps.generations.models import Generation
from tests.generations.factories import GenerationFactory

from .conftest import ApiClient

pytestmark = pytest.mark.usefixtures("catalog")


def test_the_ledger_pages_newest_first_and_shows_what_each_entry_paid_for(api, user, other_user):
    made = [GenerationFactory(owner=user) for _ in range(4)]
    GenerationFactory(owner=other_user)

    first = api.get("/ledger", limit=3).json()
    second = api.get("/ledger", limit=3, cursor=first["next_cursor"]).json()

    items = first["items"] + second["items"]
    assert [(i["kind"], i["amount"]) for i in items] == [("reserve", -1)] * 4 + [("grant", 100)]
    assert [i["generation_id"] for i in items] == [str(g.id) for g in reversed(made)] + [None]
    assert items[-1] | {"id": 0, "created_at": ""} == {
        "id": 0, "kind": "grant", "amount": 100, "memo": "Welcome credits", "generation_id": None,
        "purchase_id": None, "created_at": "",
    }
    assert second["next_cursor"] is None
    assert {i["id"] for i in items} == set(LedgerEntry.objects.filter(user=user).values_list("id", flat=True))


def test_the_ledger_is_owner_scoped(api, other_user):
    GenerationFactory(owner=other_user)
    other = ApiClient(api_key_create(user=other_user, name="theirs").secret)
    assert [(i["kind"], i["amount"]) for i in api.get("/ledger").json()["items"]] == [("grant", 100)]
    assert [(i["kind"], i["amount"]) for i in other.get("/ledger").json()["items"]] == [("reserve", -1), ("grant", 100)]


def test_a_bad_cursor_is_a_clear_400(api):
    response = api.get("/ledger", cursor="%%%")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")


def test_the_quote_shows_the_price_before_submitting(api):
    response = api.get("/quote", model="offline-studio", tier="large", num_images=3)
    assert response.json() == {
        "model": "offline-studio", "tier": "large", "num_images": 3, "duration_seconds": None, "credits": 18,
        "balance": 100, "enough": True,
    }
    video = api.get("/quote", model="veo-video", duration_seconds=8).json()
    assert (video["credits"], video["duration_seconds"], video["enough"]) == (200, 8, False)
    assert api.get("/quote", model="kling-video").json()["credits"] == 50
    assert api.get("/quote", model="nope").json() == {"detail": "Choose a model from the catalogue.", "code": "invalid_request"}
    assert api.get("/quote", model="offline-sketch", num_images=5).status_code == 422
    assert api.get("/quote", model="offline-sketch", tier="huge").json()["code"] == "invalid_request"


def test_a_limited_submission_is_429_with_retry_after(api, user, settings, frozen):
    settings.RATE_LIMIT_GENERATIONS_PER_HOUR = 2
    now = frozen(datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC))
    made = [GenerationFactory(owner=user) for _ in range(2)]
    Generation.objects.filter(pk=made[0].pk).update(created_at=now - timedelta(minutes=59, seconds=30))

    response = api.post("/generations", {"model": "offline-sketch", "prompt": "a lighthouse"})

    assert response.status_code == 429
    assert response["Retry-After"] == "30"
    assert response.json() == {
        "detail": "You can start 2 generations an hour. Try again in 30 seconds.", "code": "rate_limited",
    }
    assert Generation.objects.count() == 2


def test_over_the_budget_is_429_budget_exhausted(api, settings):
    settings.GLOBAL_DAILY_BUDGET = 1
    assert api.post("/generations", {"model": "offline-sketch", "prompt": "one"}).status_code == 201
    response = api.post("/generations", {"model": "offline-sketch", "prompt": "two"})
    assert (response.status_code, response.json()["code"]) == (429, "budget_exhausted")
    assert 0 < int(response["Retry-After"]) <= 86400
