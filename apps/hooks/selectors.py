import uuid

from django.db.models import Prefetch, QuerySet

from apps.core.exceptions import NotFoundError
from apps.core.pagination import Page, keyset_page

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def webhook_endpoint_list(*, user) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(owner=user).order_by("-created_at")


def webhook_endpoint_page(*, user, cursor: str | None, limit: int) -> Page[WebhookEndpoint]:
    return keyset_page(WebhookEndpoint.objects.filter(owner=user), cursor=cursor, limit=limit)


def webhook_endpoint_get_for_user(*, user, endpoint_id) -> WebhookEndpoint:
    try:
        endpoint = WebhookEndpoint.objects.filter(owner=user, pk=uuid.UUID(str(endpoint_id))).first()
    except ValueError:
        endpoint = None
    if endpoint is None:
        raise NotFoundError("Webhook endpoint not found.")
    return endpoint


def _deliveries(endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint=endpoint).prefetch_related(
        Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number"))
    )


def webhook_delivery_page(*, user, endpoint_id, cursor: str | None, limit: int) -> Page[WebhookDelivery]:
    endpoint = webhook_endpoint_get_for_user(user=user, endpoint_id=endpoint_id)
    return keyset_page(_deliveries(endpoint), cursor=cursor, limit=limit)


def webhook_delivery_recent(*, endpoint: WebhookEndpoint, limit: int = 50) -> list[WebhookDelivery]:
    return list(_deliveries(endpoint).order_by("-created_at", "-pk")[:limit])


def webhook_delivery_get(*, delivery_id) -> WebhookDelivery:
    """For a delivery already known to be the caller's (services checked the owner)."""
    return WebhookDelivery.objects.prefetch_related(
        Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number"))
    ).get(pk=delivery_id)
