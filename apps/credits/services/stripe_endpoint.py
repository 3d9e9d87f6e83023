"""The Stripe webhook endpoint dj-stripe verifies signatures with, kept in step with settings."""

import uuid

from django.conf import settings
from django.urls import reverse

STRIPE_WEBHOOK_ENDPOINT_ID = "we_darkroom"


def credits_stripe_webhook_uuid() -> uuid.UUID | None:
    secret = settings.DJSTRIPE_WEBHOOK_SECRET
    if not secret:
        return None
    if settings.DJSTRIPE_WEBHOOK_UUID:
        return uuid.UUID(settings.DJSTRIPE_WEBHOOK_UUID)
    return uuid.uuid5(uuid.NAMESPACE_URL, f"darkroom:stripe-webhook:{secret}")


def credits_stripe_webhook_path() -> str | None:
    endpoint_uuid = credits_stripe_webhook_uuid()
    if endpoint_uuid is None:
        return None
    return reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint_uuid})


def credits_stripe_webhook_endpoint_sync(*, using: str = "default"):
    """Keep dj-stripe's endpoint row (which its webhook view verifies signatures with) in step with
    DJSTRIPE_WEBHOOK_SECRET. Runs after `migrate` and before each checkout; a no-op without a secret."""
    from djstripe.models import WebhookEndpoint
    from djstripe.settings import djstripe_settings

    endpoint_uuid = credits_stripe_webhook_uuid()
    if endpoint_uuid is None:
        return None
    values = {
        "djstripe_uuid": endpoint_uuid,
        "secret": settings.DJSTRIPE_WEBHOOK_SECRET,
        "url": settings.SITE_URL + credits_stripe_webhook_path(),
        "enabled_events": ["*"],
        "status": "enabled",
        "livemode": settings.STRIPE_LIVE_MODE,
        "api_version": djstripe_settings.STRIPE_API_VERSION,
    }
    endpoint = WebhookEndpoint.objects.using(using).filter(id=STRIPE_WEBHOOK_ENDPOINT_ID).first()
    if endpoint is None:
        return WebhookEndpoint.objects.using(using).create(id=STRIPE_WEBHOOK_ENDPOINT_ID, **values)
    if any(getattr(endpoint, name) != value for name, value in values.items()):
        for name, value in values.items():
            setattr(endpoint, name, value)
        endpoint.save(using=using)
    return endpoint

