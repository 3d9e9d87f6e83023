"""`Idempotency-Key` on API POSTs, with Stripe's semantics.

A client sends a unique key (a UUID v4, up to 255 characters) with a POST. The first request with
that key does the work and its response is stored; a repeat with the same key and the same request
(method, path and body) gets the stored response back, marked `Idempotent-Replayed: true`, and
nothing is done again. The same key with a different request is a 409. Keys belong to the API key's
owner and expire after 24 hours (a beat task deletes them).

A request that was refused (any 4xx) changed nothing, so it is not stored and its key can be sent
again, e.g. with a corrected body. Successes and server errors (5xx) are stored, like Stripe does.

Concurrency: the key's row is inserted and committed before the work starts, so of two concurrent
requests with the same key only one gets to work. The other waits a little for the first to finish
and replays its response, or answers 409 `idempotency_key_in_progress` with `Retry-After`.
"""

import functools
import hashlib
import inspect
import json
import time
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

from .exceptions import ApplicationError, ConflictError
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEY_LIFETIME = timedelta(hours=24)
WAIT_POLL_SECONDS = 0.05
REDACT_ATTRIBUTE = "idempotency_redact_fields"


class IdempotencyKeyInvalidError(ApplicationError):
    code = "idempotency_key_invalid"
    http_status = 400
    default_message = f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."


class IdempotencyKeyReusedError(ConflictError):
    code = "idempotency_key_reused"
    default_message = (
        "This Idempotency-Key was already used with a different request. Use a new key for a new request."
    )


class IdempotencyKeyInProgressError(ConflictError):
    code = "idempotency_key_in_progress"
    default_message = "A request with this Idempotency-Key is still being processed. Try again in a moment."
    retry_after = 1


# ---------------------------------------------------------------- services


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and all(33 <= ord(char) <= 126 for char in key)


def request_fingerprint(request) -> str:
    """SHA-256 over method, path with query, and body. JSON is compared by value (key order and
    spacing don't matter); multipart by its fields and the files' names and contents."""
    digest = hashlib.sha256()
    digest.update(f"{request.method}\n{request.get_full_path()}\n".encode())
    content_type = request.content_type or ""
    if content_type.startswith("multipart/"):
        for name, values in sorted(request.POST.lists()):
            digest.update(json.dumps([name, values]).encode())
        for name, files in sorted(request.FILES.lists()):
            for uploaded in files:
                file_digest = hashlib.sha256()
                for chunk in uploaded.chunks():
                    file_digest.update(chunk)
                uploaded.seek(0)
                digest.update(json.dumps([name, uploaded.name, file_digest.hexdigest()]).encode())
        return digest.hexdigest()
    body = request.body
    if content_type == "application/json":
        try:
            body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
        except ValueError:
            pass  # malformed JSON: compared byte for byte (the endpoint refuses it anyway)
    digest.update(body)
    return digest.hexdigest()


def idempotency_key_claim(*, user, key: str, method: str, path: str, fingerprint: str) -> tuple[IdempotencyKey, bool]:
    """The key's row, and whether this call created it (and so must do the work). Committed at
    once, outside any request transaction, so a concurrent request sees it."""
    for _ in range(2):
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user=user, key=key, method=method, path=path[:500], fingerprint=fingerprint
                )
            return record, True
        except IntegrityError:
            record = IdempotencyKey.objects.filter(user=user, key=key).first()
            if record is None:
                continue  # deleted meanwhile (expired or released): try again
            if record.created_at < timezone.now() - KEY_LIFETIME:
                IdempotencyKey.objects.filter(pk=record.pk).delete()
                continue
            return record, False
    raise IdempotencyKeyInProgressError()


def idempotency_key_complete(*, record: IdempotencyKey, status_code: int, content_type: str, body: bytes) -> None:
    IdempotencyKey.objects.filter(pk=record.pk).update(
        status_code=status_code, content_type=content_type[:200], body=body, completed_at=timezone.now()
    )


def idempotency_key_release(*, record: IdempotencyKey) -> None:
    """Forget a key whose request changed nothing, so it can be used again."""
    IdempotencyKey.objects.filter(pk=record.pk, status_code__isnull=True).delete()


def idempotency_key_wait(*, record: IdempotencyKey, seconds: float) -> IdempotencyKey | None:
    """The finished record, after waiting up to `seconds` for a concurrent request to finish."""
    deadline = time.monotonic() + seconds
    while True:
        current = IdempotencyKey.objects.filter(pk=record.pk).first()
        if current is None or current.status_code is not None:
            return current
        if time.monotonic() >= deadline:
            return current
        time.sleep(WAIT_POLL_SECONDS)


def idempotency_keys_purge(*, now=None) -> int:
    """Delete keys older than 24 hours."""
    now = now or timezone.now()
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=now - KEY_LIFETIME).delete()
    return deleted


# ---------------------------------------------------------------- the API hook


def replay_response(record: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(bytes(record.body), status=record.status_code, content_type=record.content_type or None)
    response[REPLAYED_HEADER] = "true"
    return response


def _error(api, request, error: ApplicationError) -> HttpResponse:
    return api.on_exception(request, error)  # the API's own error mapper words it


def _begin(api, authenticate, request):
    """None: no idempotency for this request; a response: answer with it; a record: do the work."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    user = authenticate(request)
    if not user:
        return None  # the operation answers 401
    if not _valid_key(key):
        return _error(api, request, IdempotencyKeyInvalidError())
    fingerprint = request_fingerprint(request)
    record, created = idempotency_key_claim(
        user=user, key=key, method=request.method, path=request.get_full_path(), fingerprint=fingerprint
    )
    if created:
        return record
    if record.fingerprint != fingerprint:
        return _error(api, request, IdempotencyKeyReusedError())
    if record.status_code is None:
        record = idempotency_key_wait(record=record, seconds=settings.IDEMPOTENCY_WAIT_SECONDS)
        if record is None:
            return _begin(api, authenticate, request)  # the first request was refused and let the key go
        if record.status_code is None:
            return _error(api, request, IdempotencyKeyInProgressError())
    return replay_response(record)


def _finish(request, record: IdempotencyKey, response) -> None:
    if response is None or isinstance(response, StreamingHttpResponse) or 400 <= response.status_code < 500:
        idempotency_key_release(record=record)
        return
    body = response.content
    if redact := getattr(request, REDACT_ATTRIBUTE, ()):
        # Secrets shown once (a new API key) are not kept: a replay answers them as null.
        try:
            data = json.loads(body)
            data.update({field: None for field in redact if field in data})
            body = json.dumps(data).encode()
        except (ValueError, AttributeError):
            body = b""
    idempotency_key_complete(
        record=record, status_code=response.status_code, content_type=response.get("Content-Type", ""), body=body,
    )


def idempotency_redact(request, *fields: str) -> None:
    """Called by an endpoint whose response holds a secret shown only once: the stored copy (for
    replays) has these top-level fields set to null."""
    setattr(request, REDACT_ATTRIBUTE, fields)


def idempotent_posts(api, authenticate):
    """A django-ninja view decorator (`api.add_decorator(..., mode="view")`) that applies
    Idempotency-Key to every POST of `api`. `authenticate(request)` returns the request's user."""

    def decorator(run):
        if inspect.iscoroutinefunction(run):
            @functools.wraps(run)
            async def async_wrapper(request, *args, **kwargs):
                if request.method != "POST" or HEADER not in request.headers:
                    return await run(request, *args, **kwargs)
                begun = await sync_to_async(_begin)(api, authenticate, request)
                if not isinstance(begun, IdempotencyKey):
                    return begun if begun is not None else await run(request, *args, **kwargs)
                response = None
                try:
                    response = await run(request, *args, **kwargs)
                finally:
                    await sync_to_async(_finish)(request, begun, response)
                return response

            return async_wrapper

        @functools.wraps(run)
        def wrapper(request, *args, **kwargs):
            if request.method != "POST" or HEADER not in request.headers:
                return run(request, *args, **kwargs)
            begun = _begin(api, authenticate, request)
            if not isinstance(begun, IdempotencyKey):
                return begun if begun is not None else run(request, *args, **kwargs)
            response = None
            try:
                response = run(request, *args, **kwargs)
            finally:
                _finish(request, begun, response)
            return response

        return wrapper

    return decorator
