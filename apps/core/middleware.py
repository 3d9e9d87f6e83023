import http
import json

from django.http import HttpResponse
from django.shortcuts import render

from .exceptions import ApplicationError


class ApplicationErrorMiddleware:
    """HTML views: a domain error that escaped the view becomes a readable page at its status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, ApplicationError) and not request.path.startswith("/api/"):
            return render(request, "error.html", {"message": exception.message, "error": exception},
                          status=exception.http_status)
        return None


def _detail_code_body(status: int, detail: str, code: str) -> dict:
    return {"detail": detail, "code": code}


# URL prefix → how that API words an error body. Apps with an API of their own add theirs.
API_ERROR_BODIES = {"/api/": _detail_code_body}
ERROR_CODES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
               500: "internal_error"}


class ApiErrorBodyMiddleware:
    """Errors that happen outside an API's own handlers — an unknown path (404), a method the path
    doesn't have (405), a body over Django's limits — still get that API's JSON error body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code < 400 or response.streaming or response.get("Content-Type", "").startswith(
            "application/json"
        ):
            return response
        prefix = next((p for p in API_ERROR_BODIES if request.path.startswith(p)), None)
        if prefix is None:
            return response
        status = response.status_code
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        detail = "Not found." if status == 404 else f"{phrase}."
        body = API_ERROR_BODIES[prefix](status, detail, ERROR_CODES.get(status, "http_error"))
        replacement = HttpResponse(json.dumps(body), status=status, content_type="application/json; charset=utf-8")
        for header in ("Allow", "Retry-After"):
            if header in response:
                replacement[header] = response[header]
        return replacement


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class NulCharacterMiddleware:
    """Refuses (400) text input holding a NUL character — in the query string, a form, an uploaded
    file's name or a JSON body. It means nothing in any field, and PostgreSQL can neither store nor
    look up text containing it (the driver raises, which would be a 500)."""

    def __init__(self, get_response):
        self.get_response = get_response

    # Signed callbacks from providers and Stripe are theirs to word; their handlers read them as bytes.
    EXEMPT_PREFIXES = ("/webhooks/providers/", "/stripe/")

    def __call__(self, request):
        if not request.path.startswith(self.EXEMPT_PREFIXES) and self._found(request):
            detail = "Text fields can't contain NUL (\\u0000) characters."
            prefix = next((p for p in API_ERROR_BODIES if request.path.startswith(p)), None)
            if prefix or request.content_type == "application/json":
                body = (API_ERROR_BODIES[prefix] if prefix else _detail_code_body)(400, detail, "invalid_text")
                return HttpResponse(json.dumps(body), status=400, content_type="application/json; charset=utf-8")
            return render(request, "error.html", {"message": detail}, status=400)
        return self.get_response(request)

    def _found(self, request) -> bool:
        if "\x00" in request.META.get("QUERY_STRING", "") or _has_nul(dict(request.GET.lists())):
            return True
        if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
            return False
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = request.body  # bounded by DATA_UPLOAD_MAX_MEMORY_SIZE; cached for the view
            except Exception:  # noqa: BLE001 — too large or unreadable: the view answers that, as before
                return False
            if b"\\u0000" not in body.lower() and b"\x00" not in body:
                return False
            try:
                return _has_nul(json.loads(body))
            except ValueError:
                return False  # not JSON: the view answers that
        # Forms: urlencoded bodies are in memory anyway; multipart only outside the APIs, which read
        # their raw body themselves (idempotency keys hash it) and validate their own fields.
        if content_type == "application/x-www-form-urlencoded" or (
            content_type == "multipart/form-data" and not request.path.startswith(tuple(API_ERROR_BODIES))
        ):
            try:
                fields = dict(request.POST.lists())
                names = [f.name or "" for files in request.FILES.lists() for f in files[1]]
            except Exception:  # noqa: BLE001 — a malformed body: Django's own parsing answers 400 in the view
                return False
            return _has_nul(fields) or _has_nul(names)
        return False
