"""A cap on the size of request bodies, enforced by the web server before any of it is kept.

daphne (through Twisted) reads a whole request body — into memory or a temporary file — before the
application sees the request, so Django's own limits (DATA_UPLOAD_MAX_MEMORY_SIZE, the upload
handler's byte count) only act after a 1 GB body has been received and stored. This refuses a body
over REQUEST_MAX_BODY_BYTES as it arrives: at once from a Content-Length that says so, or as soon as
a chunked body passes the cap. The answer is a 413 with the usual `{detail, code}` body, and the
connection is closed so the rest is never read. Installed by config/asgi.py when daphne serves us.
(A front server should cap bodies too, e.g. nginx's client_max_body_size.)
"""

import json

from django.conf import settings

TOO_LARGE_BODY = json.dumps({
    "detail": "The request is too large.", "code": "payload_too_large",
}).encode()


def _refusal() -> bytes:
    return (
        b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(TOO_LARGE_BODY)).encode() + b"\r\n\r\n" + TOO_LARGE_BODY
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
        request.channel.transport.write(_refusal())
        request.channel.transport.loseConnection()

    def gotLength(self, length):
        self._body_received, self._body_refused = 0, False
        if length is not None and length > settings.REQUEST_MAX_BODY_BYTES:
            self.content = None
            refuse(self)
            return None
        return got_length(self, length)

    def handleContentChunk(self, data):
        if getattr(self, "_body_refused", False):
            return None
        self._body_received = getattr(self, "_body_received", 0) + len(data)
        if self._body_received > settings.REQUEST_MAX_BODY_BYTES:  # a chunked body without a length
            refuse(self)
            return None
        return handle_chunk(self, data)

    def guarded_process(self):
        if getattr(self, "_body_refused", False):
            return None  # already answered: the application never sees this request
        return process(self)

    WebRequest.gotLength, WebRequest.handleContentChunk, WebRequest.process = gotLength, handleContentChunk, guarded_process
    WebRequest._body_limit_installed = True
    return True
