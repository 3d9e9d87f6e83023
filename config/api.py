"""The JSON API at /api/v1/: one NinjaAPI, API-key auth, one error body `{detail, code}`."""

import logging

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from apps.accounts.services import api_key_authenticate
from apps.core.exceptions import ApplicationError
from apps.core.idempotency import idempotent_posts
from apps.core.openapi import document_api_conventions

logger = logging.getLogger(__name__)


class ApiKeyAuth(HttpBearer):
    openapi_description = "A Darkroom API key from Account → API keys, sent as `Authorization: Bearer dr_…`."

    def authenticate(self, request, token):
        return api_key_authenticate(secret=token)


class DarkroomAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        # Every operation documents the `{detail, code}` error body; every POST the Idempotency-Key header.
        return document_api_conventions(super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params))


api = DarkroomAPI(
    title="Darkroom API",
    version="1.0",
    description="Generate images, follow them and fetch the results. Errors are `{detail, code}`.",
    auth=ApiKeyAuth(),
    urls_namespace="api",
)


def _status_detail_code(exc: Exception) -> tuple[int, str, str]:
    """What any error raised under /api/v1/ answers: (status, detail, code)."""
    if isinstance(exc, ApplicationError):
        return exc.http_status, exc.message, exc.code
    if isinstance(exc, ValidationError):
        problems = []
        for item in exc.errors:
            where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("body", "payload", "query"))
            problems.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
        return 422, "Invalid request. " + "; ".join(problems) if problems else "Invalid request.", "invalid_request"
    if isinstance(exc, AuthenticationError):
        return 401, "Send a valid API key as 'Authorization: Bearer <key>'.", "unauthenticated"
    if isinstance(exc, Http404):
        return 404, "Not found.", "not_found"
    # Django's own request parsing: its limits (DATA_UPLOAD_MAX_MEMORY_SIZE, field and file counts)
    # and bodies it can't read (a multipart body without its boundary, a part header over 1 KB, bad base64).
    if isinstance(exc, RequestDataTooBig):
        return 413, "The request body is too large.", "payload_too_large"
    if isinstance(exc, SuspiciousOperation):
        return 400, "The request body was refused: too many fields or files.", "invalid_request"
    if isinstance(exc, MultiPartParserError):
        return 400, "The multipart body could not be read.", "invalid_multipart"
    if isinstance(exc, HttpError):
        code = {400: "invalid_request", 405: "method_not_allowed", 429: "rate_limited"}.get(exc.status_code, "http_error")
        return exc.status_code, str(exc), code
    return 500, "Something went wrong on our side.", "internal_error"


def api_error(request, exc: Exception):
    """The API's one error mapper: every error becomes `{detail, code}` at its status."""
    status, detail, code = _status_detail_code(exc)
    if status == 500:
        logger.error("API request failed", exc_info=exc, extra={"path": request.path})
    response = api.create_response(request, {"detail": detail, "code": code}, status=status)
    if retry_after := getattr(exc, "retry_after", None):
        response["Retry-After"] = str(retry_after)  # limits (429): seconds until a retry can succeed
    return response


# Registered for each class django-ninja has a default handler for, so none of those answers instead.
for _error_class in (ApplicationError, ValidationError, AuthenticationError, Http404, HttpError, SuspiciousOperation,
                     MultiPartParserError, Exception):
    api.add_exception_handler(_error_class, api_error)

# Idempotency-Key on every POST (apps/core/idempotency.py).
api.add_decorator(idempotent_posts(api, ApiKeyAuth()), mode="view")

api.add_router("/", "apps.catalog.api.router")
api.add_router("/", "apps.generations.api.router")
api.add_router("/", "apps.media.api.router")
api.add_router("/", "apps.credits.api.router")
api.add_router("/", "apps.workflows.api.router")
api.add_router("/", "apps.realtime.api.router")
api.add_router("/", "apps.accounts.api.router")
api.add_router("/", "apps.hooks.api.router")
api.add_router("/", "apps.batches.api.router")
api.add_router("/", "apps.library.api.router")
api.add_router("/", "apps.gallery.api.router")
