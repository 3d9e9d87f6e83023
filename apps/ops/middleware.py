"""Request context for logs and traces: a request id (the caller's X-Request-ID when it is a sane
token, else a new one, echoed on the response) and the signed-in user's id."""

import re
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings

from apps.core.logging import log_context_bind, log_context_reset

REQUEST_ID_HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id_for(request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    return incoming if _SANE.match(incoming) else uuid.uuid4().hex


def _has_session(request) -> bool:
    # Only a request with a session cookie can be signed in through it: no session read otherwise.
    return settings.SESSION_COOKIE_NAME in request.COOKIES


class RequestContextMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        request_id = request_id_for(request)
        user = request.user if _has_session(request) else None
        token = log_context_bind(request_id=request_id, user_id=user.pk if user and user.is_authenticated else None)
        try:
            response = self.get_response(request)
        finally:
            log_context_reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response

    async def __acall__(self, request):
        request_id = request_id_for(request)
        user = await request.auser() if _has_session(request) else None
        token = log_context_bind(request_id=request_id, user_id=user.pk if user and user.is_authenticated else None)
        try:
            response = await self.get_response(request)
        finally:
            log_context_reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response
