"""fal webhook signatures: ED25519 over "request id \\n user id \\n timestamp \\n sha256(body)",
checked against the public keys fal publishes as a JWKS (settings.FAL_JWKS_URL)."""

import base64
import hashlib
import time

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

from apps.providers.exceptions import WebhookRejectedError

KEYS_TTL = 24 * 3600
# A signature no cached key verifies refetches the keys (fal may have rotated them), but at
# most this often, so forged deliveries cannot make us hammer the key server.
MIN_REFRESH_SECONDS = 60
TIMEOUT = httpx.Timeout(10.0, connect=5.0)

_keys: dict[str, tuple[float, list[Ed25519PublicKey]]] = {}  # JWKS URL → (fetched at, keys)


def _public_key(x: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))


def _fetch(url: str) -> list[Ed25519PublicKey]:
    try:
        response = httpx.get(url, timeout=TIMEOUT, follow_redirects=False)
        response.raise_for_status()
        return [
            _public_key(entry["x"])
            for entry in response.json()["keys"]
            if entry.get("kty") == "OKP" and entry.get("crv") == "Ed25519"
        ]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
        reason = f"signing keys unavailable: {type(error).__name__}"
        raise WebhookRejectedError(extra={"reason": reason}) from None


def _public_keys(*, refresh: bool = False) -> list[Ed25519PublicKey] | None:
    """The cached keys, fetched when missing or old; with `refresh`, newer keys or None."""
    url = settings.FAL_JWKS_URL
    now = time.monotonic()
    fetched_at, keys = _keys.get(url, (None, []))
    age = None if fetched_at is None else now - fetched_at
    if refresh and age is not None and age < MIN_REFRESH_SECONDS:
        return None
    if not refresh and age is not None and age < KEYS_TTL:
        return keys
    keys = _fetch(url)
    _keys[url] = (now, keys)
    return keys


def _verifies(keys: list[Ed25519PublicKey], signature: bytes, message: bytes) -> bool:
    for key in keys:
        try:
            key.verify(signature, message)
            return True
        except InvalidSignature:
            continue
    return False


def verify(headers: dict[str, str], body: bytes) -> None:
    """Return quietly for a fresh, correctly signed delivery; raise WebhookRejectedError otherwise."""
    request_id = headers.get("x-fal-webhook-request-id", "")
    user_id = headers.get("x-fal-webhook-user-id", "")
    timestamp = headers.get("x-fal-webhook-timestamp", "")
    signature_hex = headers.get("x-fal-webhook-signature", "")
    if not (request_id and user_id and timestamp and signature_hex and settings.FAL_JWKS_URL):
        raise WebhookRejectedError(extra={"reason": "missing signature headers"})
    try:
        signature = bytes.fromhex(signature_hex)
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookRejectedError(extra={"reason": "malformed signature headers"}) from None
    if abs(time.time() - sent_at) > settings.PROVIDER_WEBHOOK_TOLERANCE_SECONDS:
        raise WebhookRejectedError(extra={"reason": "timestamp outside tolerance"})
    message = "\n".join([request_id, user_id, timestamp, hashlib.sha256(body).hexdigest()]).encode()
    if _verifies(_public_keys(), signature, message):
        return
    if (fresh := _public_keys(refresh=True)) is not None and _verifies(fresh, signature, message):
        return
    raise WebhookRejectedError(extra={"reason": "bad signature"})
