"""The JSON API at /api/v1/: one NinjaAPI, API-key auth, one error body `{detail, code}`."""

import logging

from django.http import Http404
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


def error(request, *, detail: str, code: str, status: int):
    return api.create_response(request, {"detail": detail, "code": code}, status=status)


@api.exception_handler(ApplicationError)
def application_error(request, exc: ApplicationError):
    response = error(request, detail=exc.message, code=exc.code, status=exc.http_status)
    if retry_after := getattr(exc, "retry_after", None):
        response["Retry-After"] = str(retry_after)  # limits (429): seconds until a retry can succeed
    return response


@api.exception_handler(ValidationError)
def validation_error(request, exc: ValidationError):
    problems = []
    for item in exc.errors:
        where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("body", "payload", "query"))
        problems.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    detail = "Invalid request. " + "; ".join(problems) if problems else "Invalid request."
    return error(request, detail=detail, code="invalid_request", status=422)


@api.exception_handler(AuthenticationError)
def authentication_error(request, exc):
    return error(
        request, detail="Send a valid API key as 'Authorization: Bearer <key>'.", code="unauthenticated", status=401
    )


@api.exception_handler(Http404)
def not_found(request, exc):
    return error(request, detail="Not found.", code="not_found", status=404)


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    code = {400: "invalid_request", 405: "method_not_allowed", 429: "rate_limited"}.get(exc.status_code, "http_error")
    return error(request, detail=str(exc), code=code, status=exc.status_code)


@api.exception_handler(Exception)
def unexpected_error(request, exc):
    logger.exception("API request failed", extra={"path": request.path})
    return error(request, detail="Something went wrong on our side.", code="internal_error", status=500)


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
