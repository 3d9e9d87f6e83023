"""Standard Webhooks verification (symmetric, v1): HMAC-SHA256 over `id.timestamp.body`."""

import base64
import binascii
import hashlib
import hmac
import time

from apps.providers.exceptions import WebhookRejectedError


def signature(*, secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """base64(HMAC-SHA256(key, "id.timestamp.body")); the key is the base64 part of `whsec_…`."""
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejectedError() from None
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(headers: dict[str, str], body: bytes, *, secret: str, tolerance: float) -> None:
    """Raise WebhookRejectedError unless one `v1,` signature matches and the timestamp is fresh."""
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (secret and webhook_id and timestamp and signatures):
        raise WebhookRejectedError("Webhook signature missing.")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookRejectedError("Webhook timestamp is invalid.") from None
    # Both ways: an old message may be a replay, one from the future a forged clock.
    if abs(time.time() - sent_at) > tolerance:
        raise WebhookRejectedError("Webhook timestamp is outside the allowed window.")
    expected = signature(secret=secret, webhook_id=webhook_id, timestamp=timestamp, body=body).encode()
    for entry in signatures.split():
        version, _, candidate = entry.partition(",")
        if version == "v1" and hmac.compare_digest(candidate.encode(), expected):
            return
    raise WebhookRejectedError("Webhook signature does not match.")
