"""Websockets are accepted only from pages of this site: the Origin header's scheme, host and port
must equal the socket's own (wss ↔ https, ws ↔ http) or one of CSRF_TRUSTED_ORIGINS. A host check
alone would let a page served from another port or over plain http of the same host open a socket
with the visitor's cookies."""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return None


def _parsed(origin: str) -> tuple[str, str, int] | None:
    scheme, _, netloc = origin.partition("://")
    return _origin(scheme.lower(), netloc) if scheme.lower() in DEFAULT_PORTS and netloc else None


def socket_origin(scope) -> tuple[str, str, int] | None:
    headers = dict(scope.get("headers", ()))
    secure = scope.get("scheme") == "wss"
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):  # TLS ended at a proxy that says so
        secure = secure or headers.get(b"x-forwarded-proto", b"").decode("latin-1").lower() == "https"
    return _origin("https" if secure else "http", headers.get(b"host", b"").decode("latin-1"))


class SameOriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        origin = dict(scope.get("headers", ())).get(b"origin", b"").decode("latin-1")
        found = _parsed(origin)
        allowed = {socket_origin(scope), *(_parsed(o) for o in settings.CSRF_TRUSTED_ORIGINS)} - {None}
        if found is None or found not in allowed:
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
