"""A cap on the size of request bodies, enforced by the web server before any of it is kept, and
multipart parsing only where it is worth it.

daphne (through Twisted) reads a whole request body — into memory or a temporary file — before the
application sees the request, then hands all of it to the application at once (every 8 KB piece
queued in memory), so Django's own limits (DATA_UPLOAD_MAX_MEMORY_SIZE, the upload handler's byte
count) only act after the body has been received, stored and held in memory. This refuses a body
over its route's cap as it arrives: at once from a Content-Length that says so, or as soon as a
chunked body passes the cap. The cap is REQUEST_MAX_BODY_BYTES on the routes that take files
(FILE_ROUTES) and DATA_UPLOAD_MAX_MEMORY_SIZE everywhere else — past it Django refuses the body
anyway, once it has all of it. The answer is a 413 with the usual `{detail, code}` body, and the
connection is closed so the rest is never read. Installed by config/asgi.py when daphne serves us.
(A front server should cap bodies too, e.g. nginx's client_max_body_size.)
"""

import json
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http.multipartparser import MultiPartParserError
from django.urls import Resolver404, resolve

TOO_LARGE_BODY = json.dumps({
    "detail": "The request is too large.", "code": "payload_too_large",
}).encode()


def _refusal(path: str = "") -> bytes:
    """The 413, worded as the API under `path` words its errors (OpenAI's shape under /v1/)."""
    from .middleware import API_ERROR_BODIES

    prefix = next((p for p in API_ERROR_BODIES if path.startswith(p)), None)
    body = TOO_LARGE_BODY
    if prefix is not None and prefix != "/api/":
        body = json.dumps(API_ERROR_BODIES[prefix](413, "The request is too large.", "payload_too_large")).encode()
    return (
        b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def daphne_body_limit_install() -> bool:
    """Patch daphne's request class (once); False if daphne isn't importable."""
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:
        return False
    if getattr(WebRequest, "_body_limit_installed", False):
        return True
    got_length, handle_chunk, process = WebRequest.gotLength, WebRequest.handleContentChunk, WebRequest.process

    def refuse(request) -> None:
        request._body_refused = True
        request.channel.transport.write(_refusal(getattr(request, "_body_path", "")))
        request.channel.transport.loseConnection()

    def gotLength(self, length):
        self._body_received, self._body_refused = 0, False
        # Headers are in; the request line is still the channel's (Twisted gives it to the request later).
        self._body_path = target_path(getattr(self.channel, "_path", None))
        self._body_cap = body_cap(self._body_path, credentials=carries_credentials(self.requestHeaders))
        if length is not None and length > self._body_cap:
            self.content = None
            refuse(self)
            return None
        return got_length(self, length)

    def handleContentChunk(self, data):
        if getattr(self, "_body_refused", False):
            return None
        self._body_received = getattr(self, "_body_received", 0) + len(data)
        cap = getattr(self, "_body_cap", settings.REQUEST_MAX_BODY_BYTES)
        if self._body_received > cap:  # a chunked body without a length
            refuse(self)
            return None
        return handle_chunk(self, data)

    def guarded_process(self):
        if getattr(self, "_body_refused", False):
            return None  # already answered: the application never sees this request
        return process(self)

    WebRequest.gotLength, WebRequest.handleContentChunk, WebRequest.process = gotLength, handleContentChunk, guarded_process
    # Twisted parses every form POST into request.args before daphne sees it — a multipart body with
    # the email package, at ~12× its size in memory, and a bad one answered with a bare 400. daphne
    # never reads request.args (the application gets the raw body), so Twisted must not parse at all.
    init = WebRequest.__init__

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = __init__
    WebRequest._body_limit_installed = True
    return True


# ---------------------------------------------------------------- multipart bodies in Django
# View names ("namespace:name") whose requests may carry files; apps add theirs in AppConfig.ready().
FILE_ROUTES: set[str] = set()


def file_routes_add(*view_names: str) -> None:
    FILE_ROUTES.update(view_names)


def takes_files(path: str) -> bool:
    try:
        return resolve(path).view_name in FILE_ROUTES
    except Resolver404:
        return False


def target_path(raw_target: bytes | None) -> str:
    """The path of a request target as it arrives (b"/path?query"); "" if unreadable."""
    try:
        return unquote(urlsplit(raw_target.decode("ascii")).path) if raw_target else ""
    except (UnicodeDecodeError, ValueError):
        return ""  # daphne refuses such a target anyway


def body_cap(path: str, *, credentials: bool = True) -> int:
    """The largest body the server reads for a request to `path`: REQUEST_MAX_BODY_BYTES where files
    are taken, elsewhere DATA_UPLOAD_MAX_MEMORY_SIZE — Django refuses a larger body there anyway
    (request.body, the form parsers and MultipartBodyMiddleware all check it), once it has all of it.
    Files are only taken from signed-in people, so a request carrying no credentials at all (no
    session cookie, no Authorization header) gets the small cap everywhere: anonymous clients can't
    make the server hold large bodies before the application refuses them."""
    limit, small = settings.REQUEST_MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if small is None or small >= limit or (credentials and takes_files(path)):
        return limit
    return small


def carries_credentials(headers) -> bool:
    """Whether Twisted request headers carry a session cookie or an Authorization header (whether
    they are valid is the application's to decide, once the body is in)."""
    if headers.hasHeader(b"authorization"):
        return True
    cookie = settings.SESSION_COOKIE_NAME.encode() + b"="
    return any(cookie in value for value in headers.getRawHeaders(b"cookie", []))


class _NoFiles(FileUploadHandler):
    """Where no file is expected, a file part is skipped as it streams: never kept anywhere."""

    chunk_size = 64 * 1024

    def new_file(self, *args, **kwargs):
        raise SkipFile()

    def receive_data_chunk(self, raw_data, start):
        return None

    def file_complete(self, file_size):
        return None


class MultipartBodyMiddleware:
    """Multipart bodies cost what they are worth. On a route that takes no files, a multipart body
    is at most DATA_UPLOAD_MAX_MEMORY_SIZE (refused from its Content-Length, unread) and its file
    parts are skipped; on any route, a body Django can't parse (no or wrong boundary, a part header
    over 1 KB, bad base64, too many fields) is our error answer, not a bare 400. Installed before
    every middleware that reads request.POST (CSRF, the text checks)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in ("POST", "PUT", "PATCH") or request.content_type != "multipart/form-data":
            return self.get_response(request)
        from .middleware import API_ERROR_BODIES, error_response

        if not takes_files(request.path_info):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                return error_response(request, 413, "The request is too large.", "payload_too_large")
            request.upload_handlers = [_NoFiles(request)]
        if request.path.startswith(tuple(API_ERROR_BODIES)):
            return self.get_response(request)  # the APIs read their own bodies and map these errors
        try:
            request.POST  # noqa: B018 — parsed now (and kept for the view), so a bad body is answered here
        except RequestDataTooBig:
            return error_response(request, 413, "The request is too large.", "payload_too_large")
        except (MultiPartParserError, SuspiciousOperation):
            return error_response(request, 400, "The form could not be read: send it again from the page.",
                                  "invalid_multipart")
        return self.get_response(request)
