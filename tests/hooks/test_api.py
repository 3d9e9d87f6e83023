import pytest
from standardwebhooks.webhooks import Webhook

from apps.accounts.services import api_key_create
from apps.hooks.models import WebhookEndpoint
from tests.apiclient import ApiClient

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(user):
    return ApiClient(api_key_create(user=user, name="tests").secret)


def test_manage_endpoints_and_send_a_test_event_through_the_api(api, user, other_user, receiver):
    response = api.post("/webhooks", {"url": receiver.url, "events": ["generation.succeeded"], "description": "ci"})
    assert response.status_code == 201
    created = response.json()
    endpoint = WebhookEndpoint.objects.get()
    assert created | {"created_at": None} == {
        "id": str(endpoint.pk), "url": receiver.url, "description": "ci", "events": ["generation.succeeded"],
        "is_active": True, "disabled_reason": "", "secret": endpoint.secret, "created_at": None,
    }
    test = api.post(f"/webhooks/{endpoint.pk}/test")
    assert test.status_code == 201
    assert (test.json()["event_type"], test.json()["status"], test.json()["attempt_log"][0]["status_code"]) == (
        "webhook.test", "succeeded", 204,
    )
    [request] = receiver.requests
    assert Webhook(endpoint.secret).verify(request.body, request.headers)["type"] == "webhook.test"
    log = api.get(f"/webhooks/{endpoint.pk}/deliveries").json()
    assert [(d["event_type"], d["attempts"], d["last_status_code"]) for d in log["items"]] == [("webhook.test", 1, 204)]
    patched = api.client.patch(f"/api/v1/webhooks/{endpoint.pk}", {"is_active": False},
                               content_type="application/json", headers=api.headers)
    assert (patched.status_code, patched.json()["is_active"], patched.json()["disabled_reason"]) == (
        200, False, "Disabled by you.",
    )
    theirs = ApiClient(api_key_create(user=other_user, name="t").secret)
    for response in (theirs.get(f"/webhooks/{endpoint.pk}"), theirs.post(f"/webhooks/{endpoint.pk}/test"),
                     theirs.get(f"/webhooks/{endpoint.pk}/deliveries"), theirs.delete(f"/webhooks/{endpoint.pk}")):
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert theirs.get("/webhooks").json() == {"items": [], "next_cursor": None}
    assert api.delete(f"/webhooks/{endpoint.pk}").status_code == 204
    assert WebhookEndpoint.objects.count() == 0


def test_unknown_events_are_a_422(api, receiver):
    response = api.post("/webhooks", {"url": receiver.url, "events": ["generation.progress"]})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_request")
