"""Outgoing webhooks: endpoints, the test event, and delivery with retries on a schedule kept in the
database. Deliveries of domain events are written by the outbox (`outbox.py`)."""

import logging
import time
import uuid
from datetime import timedelta

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.exceptions import ApplicationError, ConflictError, NotFoundError

from . import messages, tasks
from .destinations import DestinationError, destination_check, destination_resolve
from .models import EVENT_TYPES, TEST_EVENT, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .signing import secret_generate, signed_headers

logger = logging.getLogger(__name__)

# Wait after each failed attempt: attempts at 0 s, 5 s, 5 min, 35 min, 2 h 35, 7 h 35, 15 h 35 and
# 23 h 35 — a day of retries (Standard Webhooks' example schedule, cut to 24 hours).
RETRY_DELAYS = [
    timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
    timedelta(hours=5), timedelta(hours=8), timedelta(hours=8),
]
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# A claimed delivery whose worker died is picked up again after this.
CLAIM_LEASE = timedelta(minutes=5)
USER_AGENT = "Darkroom-Webhooks/1.0"


class WebhookEndpointInvalidError(ApplicationError):
    code = "invalid_webhook_endpoint"
    http_status = 422


class WebhookUrlNotAllowedError(ApplicationError):
    code = "webhook_url_not_allowed"
    http_status = 422


# ---------------------------------------------------------------- endpoints


def _validated(*, url: str, events: list[str], description: str) -> tuple[str, list[str], str]:
    url = (url or "").strip()
    if not url or len(url) > 2000:
        raise WebhookEndpointInvalidError("Give the URL webhooks should be sent to (at most 2000 characters).")
    try:
        destination_check(url)
    except DestinationError as error:
        raise WebhookUrlNotAllowedError(str(error)) from None
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown or not events:
        raise WebhookEndpointInvalidError(
            f"Choose one or more of these events: {', '.join(EVENT_TYPES)}.", extra={"field": "events"}
        )
    return url, sorted(set(events), key=list(EVENT_TYPES).index), description.strip()[:200]


def webhook_endpoint_create(*, user, url: str, events: list[str], description: str = "") -> WebhookEndpoint:
    url, events, description = _validated(url=url, events=events, description=description)
    limit = settings.WEBHOOK_ENDPOINTS_MAX_PER_USER
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()  # concurrent creates count in turn
        if WebhookEndpoint.objects.filter(owner=user).count() >= limit:
            raise ConflictError(f"You can have at most {limit} webhook endpoints: delete one you no longer use first.",
                                code="too_many_webhook_endpoints")
        return WebhookEndpoint.objects.create(
            owner=user, url=url, events=events, description=description, secret=secret_generate()
        )


def _owned(user, endpoint_id) -> WebhookEndpoint:
    try:
        endpoint = WebhookEndpoint.objects.filter(owner=user, pk=uuid.UUID(str(endpoint_id))).first()
    except ValueError:
        endpoint = None
    if endpoint is None:
        raise NotFoundError("Webhook endpoint not found.")
    return endpoint


def webhook_endpoint_update(
    *, user, endpoint_id, url: str | None = None, events: list[str] | None = None,
    description: str | None = None, is_active: bool | None = None,
) -> WebhookEndpoint:
    endpoint = _owned(user, endpoint_id)
    endpoint.url, endpoint.events, endpoint.description = _validated(
        url=endpoint.url if url is None else url,
        events=endpoint.events if events is None else events,
        description=endpoint.description if description is None else description,
    )
    if is_active is not None:
        endpoint.is_active = is_active
        endpoint.disabled_reason = "" if is_active else "Disabled by you."
    endpoint.save()
    return endpoint


def webhook_endpoint_delete(*, user, endpoint_id) -> None:
    _owned(user, endpoint_id).delete()


def webhook_endpoint_rotate_secret(*, user, endpoint_id) -> WebhookEndpoint:
    endpoint = _owned(user, endpoint_id)
    endpoint.secret = secret_generate()
    endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint


# ---------------------------------------------------------------- sending by hand


def webhook_endpoint_send_test(*, user, endpoint_id) -> WebhookDelivery:
    """The "send test event" button: a `webhook.test` event to this endpoint only, sent now."""
    endpoint = _owned(user, endpoint_id)
    now = timezone.now()
    data = {"endpoint_id": str(endpoint.pk), "message": "A test event from Darkroom. It worked!"}
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, message_id="msg_" + uuid.uuid4().hex, event_type=TEST_EVENT,
            payload=messages.message_body(event=TEST_EVENT, data=data, at=now), next_attempt_at=now,
        )
        messages.deliveries_enqueue([delivery.pk])
    return delivery


def webhook_delivery_retry(*, user, delivery_id) -> WebhookDelivery:
    """Send a delivery again now (same message id and body), e.g. after fixing the receiver."""
    delivery = WebhookDelivery.objects.filter(pk=delivery_id, endpoint__owner=user).first()
    if delivery is None:
        raise NotFoundError("Delivery not found.")
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now(), updated_at=timezone.now(),
        )
        messages.deliveries_enqueue([delivery.pk])
    delivery.refresh_from_db()
    return delivery


# ---------------------------------------------------------------- delivery


def _claim(delivery_id) -> WebhookDelivery | None:
    """Take a due delivery for this worker (a conditional update: one taker wins)."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + CLAIM_LEASE, updated_at=now)
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)


def _post(delivery: WebhookDelivery) -> tuple[int | None, str, str]:
    """(status code, error, response excerpt) of one signed POST."""
    endpoint = delivery.endpoint
    try:
        destination = destination_resolve(endpoint.url)
    except DestinationError as error:
        return None, f"Not sent: {error}", ""
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **signed_headers(secret=endpoint.secret, message_id=delivery.message_id, timestamp=int(time.time()),
                         body=delivery.payload),
    }
    if destination.host_header:
        headers["host"] = destination.host_header
    extensions = {"sni_hostname": destination.sni_hostname} if destination.sni_hostname else {}
    timeout = httpx.Timeout(settings.WEBHOOKS_TIMEOUT_SECONDS, connect=min(5.0, settings.WEBHOOKS_TIMEOUT_SECONDS))
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            request = client.build_request(
                "POST", destination.url, content=delivery.payload.encode(), headers=headers, extensions=extensions
            )
            response = client.send(request, stream=True)
            try:
                excerpt = b""
                for chunk in response.iter_bytes():  # read a little of the answer, never all of it
                    excerpt += chunk
                    if len(excerpt) >= 500:
                        break
                return response.status_code, "", excerpt[:500].decode("utf-8", "replace")
            finally:
                response.close()
    except httpx.TimeoutException:
        return None, f"Timed out after {settings.WEBHOOKS_TIMEOUT_SECONDS:g} s.", ""
    except httpx.HTTPError as error:
        return None, f"Could not connect ({type(error).__name__}).", ""


def webhook_delivery_attempt(*, delivery_id) -> WebhookDelivery | None:
    """Try one due delivery once and schedule the next try. Returns None if it wasn't due (another
    worker has it, or it is done)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    started = time.monotonic()
    if endpoint.is_active or delivery.event_type == TEST_EVENT:
        status_code, error, excerpt = _post(delivery)
    else:
        status_code, error, excerpt = None, "Not sent: the endpoint is disabled.", ""
    duration_ms = int((time.monotonic() - started) * 1000)
    now = timezone.now()
    ok = status_code is not None and 200 <= status_code < 300
    if status_code is not None and not ok:
        error = f"Answered HTTP {status_code}." + (" Redirects are not followed." if 300 <= status_code < 400 else "")
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery, number=delivery.attempts, status_code=status_code, error=error[:200],
            duration_ms=duration_ms, response_excerpt=excerpt,
        )
        delivery.last_status_code, delivery.last_error = status_code, error[:200]
        if ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = WebhookDelivery.Status.SUCCEEDED, now, None
        elif status_code == 410 or not endpoint.is_active or delivery.attempts >= MAX_ATTEMPTS:
            delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
        else:
            delivery.next_attempt_at = now + RETRY_DELAYS[delivery.attempts - 1]
        delivery.save(update_fields=["status", "delivered_at", "next_attempt_at", "last_status_code", "last_error",
                                     "updated_at"])
        if status_code == 410 and endpoint.is_active:
            # 410 Gone: the receiver says this endpoint is no more (Standard Webhooks).
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                is_active=False, disabled_reason="The receiver answered 410 Gone.", updated_at=now
            )
    return delivery


def webhook_deliveries_due(*, limit: int = 1000) -> int:
    """Enqueue every delivery whose next attempt is due (the beat runs this every minute)."""
    ids = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
    )
    for delivery_id in ids:
        tasks.webhook_deliver_task.delay(delivery_id=delivery_id)
    return len(ids)
