"""Webhook endpoints through the API: the same as the account page's Webhooks."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import StrictBool

from apps.core.idempotency import idempotency_redact

from . import selectors, services
from .models import EVENT_TYPES

router = Router(tags=["webhooks"])

EventType = Literal[tuple(EVENT_TYPES)]  # type: ignore[valid-type]


class EndpointOut(Schema):
    id: UUID
    url: str
    description: str
    events: list[str]
    is_active: bool
    disabled_reason: str
    created_at: datetime


class EndpointCreatedOut(EndpointOut):
    """The only answers that hold the signing secret: reads never show it."""

    secret: str | None = Field(description="The whsec_… key deliveries are signed with (Standard Webhooks), shown "
                               "only here; null when this answer is a replay (same Idempotency-Key). Lost it? "
                               "Make a new one with POST /webhooks/{endpoint_id}/secret.")


class EndpointIn(Schema):
    url: str = Field(max_length=2000, description="https URL on a public address.")
    events: list[EventType] = Field(min_length=1, description=", ".join(EVENT_TYPES))
    description: str = Field("", max_length=200)


class EndpointPatch(Schema):
    url: str | None = Field(None, max_length=2000)
    events: list[EventType] | None = Field(None, min_length=1)
    description: str | None = Field(None, max_length=200)
    is_active: StrictBool | None = None


class EndpointPage(Schema):
    items: list[EndpointOut]
    next_cursor: str | None


class AttemptOut(Schema):
    number: int
    created_at: datetime
    status_code: int | None
    error: str
    duration_ms: int


class DeliveryOut(Schema):
    id: int
    message_id: str = Field(description="The webhook-id header; the same on every retry.")
    event_type: str
    status: str = Field(description="pending, succeeded or failed (gave up).")
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptOut]


class DeliveryPage(Schema):
    items: list[DeliveryOut]
    next_cursor: str | None


class PageQuery(Schema):
    cursor: str | None = None
    limit: int = Field(20, ge=1, le=100)


@router.get("/webhooks", response=EndpointPage, summary="List your webhook endpoints, newest first")
def endpoint_list(request, query: Query[PageQuery]):
    page = selectors.webhook_endpoint_page(user=request.auth, cursor=query.cursor, limit=query.limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/webhooks", response={201: EndpointCreatedOut}, summary="Add a webhook endpoint")
def endpoint_create(request, payload: EndpointIn):
    """Deliveries are POSTs signed the Standard Webhooks way with the returned `secret`; a 2xx answer
    is a delivery, anything else is retried with backoff for a day, and 410 Gone disables the endpoint."""
    idempotency_redact(request, "secret")  # a replayed answer (kept for a day) holds no signing key
    return Status(201, services.webhook_endpoint_create(user=request.auth, **payload.dict()))


@router.get("/webhooks/{endpoint_id}", response=EndpointOut, summary="Get a webhook endpoint")
def endpoint_get(request, endpoint_id: UUID):
    return selectors.webhook_endpoint_get_for_user(user=request.auth, endpoint_id=endpoint_id)


@router.patch("/webhooks/{endpoint_id}", response=EndpointOut, summary="Change a webhook endpoint")
def endpoint_update(request, endpoint_id: UUID, payload: EndpointPatch):
    return services.webhook_endpoint_update(user=request.auth, endpoint_id=endpoint_id, **payload.dict())


@router.post("/webhooks/{endpoint_id}/secret", response=EndpointCreatedOut, summary="Roll the signing secret")
def endpoint_roll_secret(request, endpoint_id: UUID):
    """Makes a new signing secret and shows it, this once; the old one signs nothing from now on."""
    idempotency_redact(request, "secret")
    return services.webhook_endpoint_rotate_secret(user=request.auth, endpoint_id=endpoint_id)


@router.delete("/webhooks/{endpoint_id}", response={204: None}, summary="Delete a webhook endpoint")
def endpoint_delete(request, endpoint_id: UUID):
    services.webhook_endpoint_delete(user=request.auth, endpoint_id=endpoint_id)
    return Status(204, None)


@router.post("/webhooks/{endpoint_id}/test", response={201: DeliveryOut}, summary="Send a test event")
def endpoint_test(request, endpoint_id: UUID):
    """Sends a `webhook.test` event to this endpoint now; follow it in its deliveries."""
    delivery = services.webhook_endpoint_send_test(user=request.auth, endpoint_id=endpoint_id)
    return Status(201, selectors.webhook_delivery_get(delivery_id=delivery.pk))


@router.get("/webhooks/{endpoint_id}/deliveries", response=DeliveryPage, summary="An endpoint's delivery log")
def delivery_list(request, endpoint_id: UUID, query: Query[PageQuery]):
    page = selectors.webhook_delivery_page(
        user=request.auth, endpoint_id=endpoint_id, cursor=query.cursor, limit=query.limit
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/webhooks/deliveries/{delivery_id}/retry", response=DeliveryOut, summary="Send a delivery again")
def delivery_retry(request, delivery_id: int = Path(..., ge=1, le=2**63 - 1)):
    """Sends the same message (same webhook-id and body) again now."""
    delivery = services.webhook_delivery_retry(user=request.auth, delivery_id=delivery_id)
    return selectors.webhook_delivery_get(delivery_id=delivery.pk)
