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


@pytest.mark.parametrize("url", [
    "https://example.com:99999/hook", "https://example.com:port/hook", "https://example.com:-1/x",
    "https://[93.184.215.14]/hook", "http://[127.0.0.1]:80/x", "https://[::1/x",
])
def test_a_url_with_a_bad_port_or_a_bracketed_ipv4_host_is_a_clear_422(api, url, settings):
    for allow_private in (True, False):
        settings.WEBHOOKS_ALLOW_PRIVATE = allow_private
        response = api.post("/webhooks", {"url": url, "events": ["batch.finished"]})
        assert response.status_code in (400, 422), (url, response.status_code, response.content[:200])
        assert response.json()["code"] in ("webhook_url_not_allowed", "invalid_request"), response.json()
    assert WebhookEndpoint.objects.count() == 0


def test_webhook_endpoints_are_capped_per_person(api, user, settings, client):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOK_ENDPOINTS_MAX_PER_USER = 2
    for n in range(2):
        assert api.post("/webhooks", {"url": f"http://127.0.0.1:9/{n}", "events": ["batch.finished"]}).status_code == 201
    refused = api.post("/webhooks", {"url": "http://127.0.0.1:9/3", "events": ["batch.finished"]})
    assert (refused.status_code, refused.json()) == (409, {
        "detail": "You can have at most 2 webhook endpoints: delete one you no longer use first.",
        "code": "too_many_webhook_endpoints",
    })
    client.force_login(user)
    page = client.post("/account/webhooks/", {"url": "http://127.0.0.1:9/3", "events": ["batch.finished"]})
    assert page.status_code == 422 and b"at most 2 webhook endpoints" in page.content
    assert WebhookEndpoint.objects.filter(owner=user).count() == 2


def test_a_replayed_create_never_shows_the_signing_secret_again(api, user, settings):
    from apps.core.models import IdempotencyKey

    settings.WEBHOOKS_ALLOW_PRIVATE = True
    body = {"url": "http://127.0.0.1:9/once", "events": ["batch.finished"]}
    first = api.post("/webhooks", body, key="hook-1")
    again = api.post("/webhooks", body, key="hook-1")
    endpoint = WebhookEndpoint.objects.get()
    assert first.json()["secret"] == endpoint.secret
    assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
    assert again.json() == first.json() | {"secret": None}
    assert endpoint.secret.encode() not in bytes(IdempotencyKey.objects.get().body)


def test_reads_never_show_the_signing_secret_and_rolling_shows_a_new_one_once(api, user, settings):
    from django.test import Client

    settings.WEBHOOKS_ALLOW_PRIVATE = True
    created = api.post("/webhooks", {"url": "http://127.0.0.1:9/x", "events": ["batch.finished"]}).json()
    endpoint = WebhookEndpoint.objects.get()
    assert created["secret"] == endpoint.secret
    for answer in (api.get(f"/webhooks/{endpoint.pk}").json(), api.get("/webhooks").json()["items"][0],
                   api.client.patch(f"/api/v1/webhooks/{endpoint.pk}", {"description": "d"},
                                    content_type="application/json", headers=api.headers).json()):
        assert "secret" not in answer, answer
        assert endpoint.secret not in str(answer)
    rolled = api.post(f"/webhooks/{endpoint.pk}/secret")
    endpoint.refresh_from_db()
    assert rolled.status_code == 200
    assert rolled.json()["secret"] == endpoint.secret != created["secret"]
    assert endpoint.secret.startswith("whsec_")
    schemas = Client().get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert "secret" not in schemas["EndpointOut"]["properties"]
    assert "secret" in schemas["EndpointCreatedOut"]["properties"]
