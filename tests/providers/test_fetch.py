import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.providers.fetch import FetchError, decode_data_uri, fetch_output

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class Handler(BaseHTTPRequestHandler):
    routes = {
        "/image.png": (200, {"Content-Type": "image/png"}, PNG),
        "/page": (200, {"Content-Type": "text/html"}, b"<html></html>"),
        "/big": (200, {"Content-Type": "image/png"}, b"x" * 5000),
        "/missing": (404, {"Content-Type": "text/plain"}, b"no"),
        "/hop": (302, {"Location": "/image.png"}, b""),
        "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
    }

    def do_GET(self):
        status, headers, body = self.routes[self.path]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def origin():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def local_allowed(settings):
    settings.PROVIDER_FETCH_ALLOW_PRIVATE = True
    settings.PROVIDER_FETCH_MAX_BYTES = 1000
    settings.PROVIDER_FETCH_TIMEOUT = 5


def test_an_image_is_fetched_and_redirects_are_followed_with_checks(origin, local_allowed):
    assert fetch_output(f"{origin}/image.png") == (PNG, "image/png")
    assert fetch_output(f"{origin}/hop") == (PNG, "image/png")


@pytest.mark.parametrize(
    "path, message",
    [("/page", "unexpected content type 'text/html'"), ("/big", "output is larger than allowed"),
     ("/missing", "output download answered 404"), ("/to-file", r"only http\(s\) URLs are fetched"),
     ("/loop", "too many redirects")],
)
def test_bad_answers_are_refused(origin, local_allowed, path, message):
    with pytest.raises(FetchError, match=message):
        fetch_output(f"{origin}{path}")


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://example.com/a.png", "only https URLs are fetched"),
        ("https://localhost/a.png", "non-public address"),
        ("https://127.0.0.1/a.png", "non-public address"),
        ("https://169.254.169.254/latest/meta-data", "non-public address"),
        ("https://10.1.2.3/a.png", "non-public address"),
        ("https://[::1]/a.png", "non-public address"),
        ("ftp://example.com/a.png", "only http"),
    ],
)
def test_private_and_non_https_targets_are_refused_before_connecting(settings, url, message):
    settings.PROVIDER_FETCH_ALLOW_PRIVATE = False
    with pytest.raises(FetchError, match=message):
        fetch_output(url)


def test_data_uris_decode_and_bad_ones_are_refused():
    assert decode_data_uri("data:image/png;base64," + base64.b64encode(PNG).decode()) == (PNG, "image/png")
    assert fetch_output("data:image/webp;base64,AAAA") == (b"\x00\x00\x00", "image/webp")
    with pytest.raises(FetchError):
        decode_data_uri("data:image/png;base64,@@@")
    with pytest.raises(FetchError):
        decode_data_uri("data:text/plain,hello")
