"""Downloading provider outputs at once, within bounds.

Only http(s); the host must resolve to public addresses unless settings allow private ones (local
fakes, a self-hosted GPU server); no redirects followed blindly (each hop is checked again); a
byte cap while streaming; a timeout; an image or video content type.
"""

import base64
import binascii
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings

from apps.core.network import NonPublicHostError, UnresolvableHostError, public_addresses

MAX_REDIRECTS = 3


class FetchError(Exception):
    pass


def decode_data_uri(uri: str) -> tuple[bytes, str]:
    header, _, data = uri.partition(",")
    if not header.startswith("data:") or ";base64" not in header:
        raise FetchError("unsupported data URI")
    try:
        return base64.b64decode(data, validate=True), header[5:].split(";")[0] or "application/octet-stream"
    except (binascii.Error, ValueError):
        raise FetchError("data URI is not valid base64") from None


def _check_host(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("only http(s) URLs are fetched")
    if settings.PROVIDER_FETCH_ALLOW_PRIVATE:
        return
    if parts.scheme != "https":
        raise FetchError("only https URLs are fetched")
    try:
        public_addresses(parts.hostname, parts.port or 443)
    except UnresolvableHostError:
        raise FetchError("host does not resolve") from None
    except NonPublicHostError:
        raise FetchError("host resolves to a non-public address") from None


def fetch_output(url: str) -> tuple[bytes, str]:
    """(content, content type) of an output URL or data: URI."""
    if url.startswith("data:"):
        return decode_data_uri(url)
    max_bytes = settings.PROVIDER_FETCH_MAX_BYTES
    timeout = httpx.Timeout(settings.PROVIDER_FETCH_TIMEOUT, connect=5.0)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            _check_host(url)
            try:
                with client.stream("GET", url) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise FetchError(f"output download answered {response.status_code}")
                    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                    if not content_type.startswith(("image/", "video/", "application/octet-stream")):
                        raise FetchError(f"unexpected content type {content_type!r}")
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > max_bytes:
                        raise FetchError("output is larger than allowed")
                    chunks, size = [], 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise FetchError("output is larger than allowed")
                        chunks.append(chunk)
                    return b"".join(chunks), content_type
            except httpx.HTTPError as error:
                raise FetchError(f"output download failed: {type(error).__name__}") from None
    raise FetchError("too many redirects")
