"""Downloading provider outputs at once, within bounds.

Only http(s); the host must resolve to public addresses unless settings allow private ones (local
fakes, a self-hosted GPU server); no redirects followed blindly (each hop is checked again); a
byte cap while streaming; a timeout; an image or video content type.

Some providers serve outputs from their own API host, behind their key (Replicate's
`api.replicate.com/v1/files/…`). The provider's credentials go with a request only when its URL
has exactly the scheme, host and port of that provider's configured API base URL; a redirect
anywhere else drops them for the rest of the chain. CDNs and every other host get none.
"""

import base64
import binascii
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings

from apps.core.network import NonPublicHostError, UnresolvableHostError, public_addresses

from .registry import adapter_registry

MAX_REDIRECTS = 3
DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


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


def _origin(url: str) -> Origin | None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def provider_credentials(provider: str | None) -> tuple[Origin, dict[str, str]] | None:
    """(API origin, auth headers) of a configured provider whose outputs may need its key."""
    if not provider or provider not in adapter_registry:
        return None
    adapter = adapter_registry.get(provider)
    credentials = getattr(adapter, "api_credentials", None)
    if credentials is None or not adapter.is_configured():
        return None
    base_url, headers = credentials()
    origin = _origin(base_url)
    return (origin, headers) if origin and headers else None


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


def fetch_output(url: str, *, provider: str | None = None) -> tuple[bytes, str]:
    """(content, content type) of an output URL or data: URI; `provider` made it (its key may be needed)."""
    if url.startswith("data:"):
        return decode_data_uri(url)
    credentials = provider_credentials(provider)
    max_bytes = settings.PROVIDER_FETCH_MAX_BYTES
    timeout = httpx.Timeout(settings.PROVIDER_FETCH_TIMEOUT, connect=5.0)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            _check_host(url)
            if credentials and _origin(url) != credentials[0]:
                credentials = None  # left the provider's API host: never sent again, even on a way back
            try:
                with client.stream("GET", url, headers=credentials[1] if credentials else None) as response:
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
