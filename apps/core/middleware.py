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
            return render(request, "error.html", {"message": exception.message}, status=exception.http_status)
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
