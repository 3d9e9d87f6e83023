"""Credits fixtures: a Stripe fake on loopback (real HTTP from stripe-python and dj-stripe), and
webhook deliveries signed with Stripe's scheme and posted to dj-stripe's real webhook view."""

import json
from dataclasses import dataclass
from datetime import datetime

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts.services import api_key_create
from apps.credits import services
from apps.credits.models import CreditPackage
from devtools.stripe_fake import Delivery, FakeStripe, FakeStripeServer

SECRET_KEY = "sk_test_DarkroomTestsOnly0123456789abcd"
WEBHOOK_SECRET = "whsec_dGVzdHMtb25seS13ZWJob29rLXNpZ25pbmctc2VjcmV0"


@dataclass
class Stripe:
    fake: FakeStripe
    server: FakeStripeServer
    webhook_path: str
    client: Client

    def post(self, delivery: Delivery, *, headers: dict | None = None):
        """One delivery to dj-stripe's webhook view, as Stripe would make it."""
        return self.client.post(
            self.webhook_path, delivery.payload, content_type="application/json",
            headers={"Stripe-Signature": delivery.headers["Stripe-Signature"], **(headers or {})},
        )

    def deliver(self) -> list[tuple[str, int]]:
        """Post everything the fake has sent since the last call, in order; returns (type, status)."""
        results = []
        for delivery in self.fake.take_outbox():
            response = self.post(delivery)
            results.append((delivery.event_type, response.status_code))
        return results

    def event(self, event_type: str) -> dict:
        return next(e for e in reversed(self.fake.events) if e["type"] == event_type)

    def pay(self, checkout_url: str) -> str:
        """The buyer clicks Pay on the fake's checkout page; returns where Stripe sends them back."""
        session_id = checkout_url.rsplit("/", 1)[1]
        return self.fake.checkout_pay(session_id)


@pytest.fixture
def stripe(settings, db):
    fake = FakeStripe(secret_key=SECRET_KEY, webhook_secret=WEBHOOK_SECRET)
    server = FakeStripeServer(fake).start()
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.DJSTRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_LIVE_MODE = False
    endpoint = services.credits_stripe_webhook_endpoint_sync()
    try:
        yield Stripe(fake=fake, server=server, webhook_path=endpoint.url.removeprefix(settings.SITE_URL),
                     client=Client())
    finally:
        server.stop()


@pytest.fixture
def frozen(monkeypatch):
    """Pin `timezone.now()` (models' auto_now_add included) to a given instant."""

    def freeze(instant: datetime) -> datetime:
        monkeypatch.setattr(timezone, "now", lambda: instant)
        return instant

    return freeze


@pytest.fixture
def package(db):
    return CreditPackage.objects.create(name="Starter", credits=500, price_cents=500, currency="usd")


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


class ApiClient:
    def __init__(self, secret: str):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {secret}"}

    def get(self, path, **params):
        return self.client.get(f"/api/v1{path}", params, headers=self.headers)

    def post(self, path, body=None):
        return self.client.post(f"/api/v1{path}", json.dumps(body or {}), content_type="application/json",
                                headers=self.headers)


@pytest.fixture
def api(user):
    return ApiClient(api_key_create(user=user, name="tests").secret)
