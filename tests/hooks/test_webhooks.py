import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.generations import services as generation_services
from apps.hooks import services
from apps.hooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.accounts.factories import PASSWORD
from tests.generations.factories import GenerationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalog")]

ALL = ["generation.succeeded", "generation.failed", "generation.canceled"]


def verified(endpoint, request) -> dict:
    """The payload, after standardwebhooks checked the signature and timestamp."""
    return Webhook(endpoint.secret).verify(request.body, request.headers)


def endpoint_for(user, receiver, events=ALL):
    return services.webhook_endpoint_create(user=user, url=receiver.url, events=events, description="tests")


def make_due(delivery):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_a_finished_generation_is_delivered_signed_with_the_api_object(user, other_user, receiver):
    endpoint = endpoint_for(user, receiver)
    endpoint_for(other_user, receiver)  # someone else's endpoint hears nothing of this user's work
    generation = GenerationFactory(owner=user)  # eager Celery: runs to the end at commit
    [request] = receiver.requests
    payload = verified(endpoint, request)
    assert request.path == "/hooks/darkroom"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "Darkroom-Webhooks/1.0"
    assert request.headers["webhook-signature"].startswith("v1,")
    generation.refresh_from_db()
    assert payload["type"] == "generation.succeeded"
    assert payload["data"]["id"] == str(generation.id)
    assert (payload["data"]["status"], payload["data"]["model"], len(payload["data"]["images"])) == (
        "succeeded", "offline-sketch", 1,
    )
    assert payload["data"]["images"][0]["url"].startswith("http://127.0.0.1:8000/files/")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.endpoint, delivery.event_type, delivery.status, delivery.attempts, delivery.last_status_code) == (
        endpoint, "generation.succeeded", "succeeded", 1, 204,
    )
    assert request.headers["webhook-id"] == delivery.message_id
    assert json.loads(request.body) == json.loads(delivery.payload)


def test_only_chosen_events_are_sent(user, receiver):
    endpoint_for(user, receiver, events=["generation.failed"])
    GenerationFactory(owner=user)
    assert receiver.requests == []
    assert WebhookDelivery.objects.count() == 0


def test_a_canceled_generation_is_delivered(user, receiver):
    endpoint = endpoint_for(user, receiver)
    with transaction.atomic():  # canceled before the worker gets it
        generation = GenerationFactory(owner=user)
        generation_services.generation_cancel(user=user, generation_id=generation.id)
    [request] = receiver.requests
    payload = verified(endpoint, request)
    assert (payload["type"], payload["data"]["status"]) == ("generation.canceled", "canceled")


def test_failed_deliveries_are_retried_with_the_same_id_and_body(user, receiver):
    endpoint = endpoint_for(user, receiver)
    receiver.statuses = [500, 503]
    before = timezone.now()
    GenerationFactory(owner=user)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        "pending", 1, 500, "Answered HTTP 500.",
    )
    assert before + timedelta(seconds=5) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=5)
    assert services.webhook_deliveries_due() == 0  # not due yet
    make_due(delivery)
    assert services.webhook_deliveries_due() == 1
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code) == (2, 503)
    assert timezone.now() + timedelta(minutes=4) < delivery.next_attempt_at <= timezone.now() + timedelta(minutes=5)
    make_due(delivery)
    services.webhook_deliveries_due()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.next_attempt_at) == (
        "succeeded", 3, 204, None,
    )
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery.message_id] * 3
    assert len({r.body for r in receiver.requests}) == 1
    for request in receiver.requests:
        verified(endpoint, request)
    assert list(WebhookAttempt.objects.order_by("number").values_list("number", "status_code")) == [
        (1, 500), (2, 503), (3, 204),
    ]


def test_retries_back_off_for_a_day_then_give_up(user, receiver):
    endpoint_for(user, receiver)
    receiver.default = 500
    GenerationFactory(owner=user)
    delivery = WebhookDelivery.objects.get()
    waits = []
    while delivery.status == "pending":
        waits.append(round((delivery.next_attempt_at - delivery.updated_at).total_seconds()))
        make_due(delivery)
        services.webhook_deliveries_due()
        delivery.refresh_from_db()
    assert waits == [5, 300, 1800, 7200, 18000, 28800, 28800]
    assert sum(waits) == 23 * 3600 + 35 * 60 + 5
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 8, None)
    assert len(receiver.requests) == 8


def test_410_gone_disables_the_endpoint(user, receiver):
    endpoint = endpoint_for(user, receiver)
    receiver.statuses = [410]
    GenerationFactory(owner=user)
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_reason) == (False, "The receiver answered 410 Gone.")
    assert WebhookDelivery.objects.get().status == "failed"
    GenerationFactory(owner=user)
    assert len(receiver.requests) == 1


def test_a_slow_receiver_times_out_and_is_retried(user, receiver, settings):
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.3
    endpoint_for(user, receiver)
    receiver.delay = 1
    GenerationFactory(owner=user)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == (
        "pending", None, "Timed out after 0.3 s.",
    )


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://169.254.169.254/latest",
    "https://[::1]/hook", "https://localhost/hook", "https://100.64.0.1/hook", "https://0.0.0.0/hook",
])
def test_endpoints_on_private_addresses_are_refused(user, url, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(services.WebhookUrlNotAllowedError) as refused:
        services.webhook_endpoint_create(user=user, url=url, events=ALL)
    assert refused.value.message in (
        "Use an https:// URL.", "Webhooks can't be sent to private, loopback or link-local addresses.",
    )
    assert WebhookEndpoint.objects.count() == 0


def test_a_public_address_is_accepted_and_pinned(user, settings):
    from apps.hooks.destinations import destination_resolve

    settings.WEBHOOKS_ALLOW_PRIVATE = False
    endpoint = services.webhook_endpoint_create(user=user, url="https://93.184.215.14/hook?x=1", events=ALL)
    assert endpoint.url == "https://93.184.215.14/hook?x=1"
    destination = destination_resolve("https://93.184.215.14:8443/hook?x=1")
    assert (destination.url, destination.host_header, destination.sni_hostname) == (
        "https://93.184.215.14:8443/hook?x=1", "93.184.215.14:8443", "93.184.215.14",
    )


def test_a_delivery_to_an_address_no_longer_allowed_is_not_sent(user, receiver, settings):
    endpoint_for(user, receiver)
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    GenerationFactory(owner=user)
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_error) == ("pending", "Not sent: Use an https:// URL.")


@pytest.mark.parametrize("events, message", [
    ([], ("Choose one or more of these events: generation.succeeded, generation.failed, generation.canceled, "
          "generation.rejected, generation.reviewed, batch.finished.")),
    (["generation.progress"], None),
])
def test_events_must_be_known(user, receiver, events, message):
    with pytest.raises(services.WebhookEndpointInvalidError) as refused:
        services.webhook_endpoint_create(user=user, url=receiver.url, events=events)
    if message:
        assert refused.value.message == message


def login(user) -> Client:
    client = Client()
    assert client.login(email=user.email, password=PASSWORD)
    return client


def test_the_account_page_adds_an_endpoint_sends_a_test_event_and_shows_the_log(user, receiver):
    client = login(user)
    response = client.post("/account/webhooks/", {
        "url": receiver.url, "description": "shop", "events": ["generation.succeeded", "batch.finished"],
    })
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/account/webhooks/{endpoint.pk}/"
    assert (endpoint.events, endpoint.description, endpoint.secret[:6]) == (
        ["generation.succeeded", "batch.finished"], "shop", "whsec_",
    )
    first_look = client.get(response["Location"]).content.decode()
    assert endpoint.secret in first_look and "shown only this once" in first_look
    response = client.post(f"/account/webhooks/{endpoint.pk}/test/", follow=True)
    [request] = receiver.requests
    payload = verified(endpoint, request)
    assert payload["type"] == "webhook.test"
    assert payload["data"] == {"endpoint_id": str(endpoint.pk), "message": "A test event from Darkroom. It worked!"}
    page = response.content.decode()
    assert "Test event delivered (HTTP 204)." in page
    assert "webhook.test" in page and ">204<" in page
    assert endpoint.secret not in page  # shown once, right after it was made


def test_the_account_page_shows_a_rolled_secret_once(user, receiver):
    endpoint = endpoint_for(user, receiver)
    client = login(user)
    assert endpoint.secret not in client.get(f"/account/webhooks/{endpoint.pk}/").content.decode()
    page = client.post(f"/account/webhooks/{endpoint.pk}/rotate/", follow=True).content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret in page and "shown only this once" in page
    assert endpoint.secret not in client.get(f"/account/webhooks/{endpoint.pk}/").content.decode()


def test_the_test_event_reports_a_failing_receiver(user, receiver):
    endpoint = endpoint_for(user, receiver)
    receiver.statuses = [404]
    page = login(user).post(f"/account/webhooks/{endpoint.pk}/test/", follow=True).content.decode()
    assert "Test event not delivered: Answered HTTP 404." in page


def test_another_users_endpoint_is_404(user, other_user, receiver):
    theirs = endpoint_for(other_user, receiver)
    client = login(user)
    for response in (client.get(f"/account/webhooks/{theirs.pk}/"), client.post(f"/account/webhooks/{theirs.pk}/test/"),
                     client.post(f"/account/webhooks/{theirs.pk}/delete/")):
        assert response.status_code == 404
    assert receiver.requests == []
    assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()


def test_a_private_url_on_the_page_is_a_clear_error(user, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    response = login(user).post("/account/webhooks/", {"url": "https://192.168.1.10/x", "events": ALL})
    assert response.status_code == 422
    assert "Webhooks can&#x27;t be sent to private, loopback or link-local addresses." in response.content.decode()
