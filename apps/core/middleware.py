import http
import json
import re

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


# Text no field can hold: NUL (PostgreSQL can neither store nor look it up) and a lone UTF-16
# surrogate half (not a character: it can't be encoded as UTF-8, so it fails wherever it is written).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_NUL = re.compile("\x00")
# URL prefixes whose views refuse lone surrogates themselves, naming the field (OpenAI's error body
# has a `param`); NUL is still refused here for them. Apps add theirs in AppConfig.ready().
OWN_SURROGATE_CHECKS: set[str] = set()
_JSON_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})|\x00")
# JSON nested deeper than this is refused before anything parses it: Python's parser (and every walk
# over the result) recurses per level, and 1,000 levels exhaust the interpreter's stack. Real bodies
# (workflow graphs included) stay under ten.
JSON_MAX_DEPTH = 64
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_EMPTY_PAIR = re.compile(rb"\[\]|\{\}")


def error_response(request, status: int, detail: str, code: str) -> HttpResponse:
    """A refusal before any view: the API's error body under an API (or for a JSON request), else
    the error page."""
    prefix = next((p for p in API_ERROR_BODIES if request.path.startswith(p)), None)
    if prefix or request.content_type == "application/json":
        body = (API_ERROR_BODIES[prefix] if prefix else _detail_code_body)(status, detail, code)
        return HttpResponse(json.dumps(body), status=status, content_type="application/json; charset=utf-8")
    return render(request, "error.html", {"message": detail}, status=status)


def _has_unstorable(value, pattern: re.Pattern = _UNSTORABLE) -> bool:
    if isinstance(value, str):
        return pattern.search(value) is not None
    if isinstance(value, dict):
        return any(_has_unstorable(k, pattern) or _has_unstorable(v, pattern) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_unstorable(v, pattern) for v in value)
    return False


def json_too_deep(body: bytes) -> bool:
    """True if a JSON body nests more than JSON_MAX_DEPTH levels (or has brackets that never close),
    found without parsing it: strings removed, then innermost bracket pairs, one level a pass."""
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", body))
    if brackets.count(b"[") + brackets.count(b"{") <= JSON_MAX_DEPTH:
        return False
    for _ in range(JSON_MAX_DEPTH):
        brackets, removed = _EMPTY_PAIR.subn(b"", brackets)
        if not brackets:
            return False
        if not removed:
            break
    return True


class NulCharacterMiddleware:
    """Refuses (400), before any view or authentication, request text no view could handle: JSON
    nested too deeply, and NUL characters or lone surrogates (e.g. "\\ud800") in the query string, a
    form, an uploaded file's name or a JSON body. Refused here, no such text is ever stored, so no
    saved object can later break the page that shows it."""

    def __init__(self, get_response):
        self.get_response = get_response

    # Signed callbacks from providers and Stripe are theirs to word; their handlers read them as bytes.
    EXEMPT_PREFIXES = ("/webhooks/providers/", "/stripe/")

    def __call__(self, request):
        body = self._json_body(request)
        if body is not None and json_too_deep(body):
            return self._refuse(request, "The JSON body is nested too deeply.", "invalid_json")
        if not request.path.startswith(self.EXEMPT_PREFIXES) and self._found(request, body):
            return self._refuse(request, "Text fields can't contain NUL (\\u0000) characters or lone surrogates "
                                "(\\ud800–\\udfff).", "invalid_text")
        return self.get_response(request)

    def _refuse(self, request, detail: str, code: str):
        return error_response(request, 400, detail, code)

    @staticmethod
    def _json_body(request) -> bytes | None:
        """The body, if it may be read as JSON (any type but forms: the APIs parse bodies as JSON
        whatever they are labelled); None otherwise."""
        if request.method not in ("POST", "PUT", "PATCH", "DELETE") or request.content_type in (
            "application/x-www-form-urlencoded", "multipart/form-data"
        ):
            return None
        try:
            return request.body  # bounded by DATA_UPLOAD_MAX_MEMORY_SIZE; cached for the view
        except Exception:  # noqa: BLE001 — too large or unreadable: the view answers that
            return None

    def _found(self, request, body: bytes | None) -> bool:
        pattern = _NUL if request.path.startswith(tuple(OWN_SURROGATE_CHECKS)) else _UNSTORABLE
        if "\x00" in request.META.get("QUERY_STRING", "") or _has_unstorable(dict(request.GET.lists()), pattern):
            return True
        if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
            return False
        content_type = request.content_type
        if body is not None:
            if not _JSON_UNSTORABLE_ESCAPE.search(body):
                return False
            try:
                return _has_unstorable(json.loads(body), pattern)
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
            return _has_unstorable(fields, pattern) or _has_unstorable(names, pattern)
        return False
