"""Where webhooks may go: http(s) only, and — unless WEBHOOKS_ALLOW_PRIVATE — https to hosts whose
every address is public (no loopback, private, link-local, CGNAT, multicast or reserved ranges),
the same rule as the providers' output fetch (apps/providers/fetch.py). Deliveries connect to the
address that was checked, so a DNS answer that changes in between (rebinding) can't redirect them."""

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from apps.core.network import NonPublicHostError, UnresolvableHostError, public_addresses


class DestinationError(Exception):
    pass


@dataclass(frozen=True)
class Destination:
    url: str  # what to connect to (the checked address when pinned)
    host_header: str | None = None
    sni_hostname: str | None = None


def _parts(url: str):
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — read now: a port out of range or not a number raises here, not later
    except ValueError:  # also a bracketed host that isn't IPv6, e.g. http://[1.2.3.4]/
        raise DestinationError("The URL's host or port is not valid.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationError("Use an http:// or https:// URL.")
    return parts


def _public_addresses(hostname: str, port: int) -> list[str]:
    try:
        return public_addresses(hostname, port)
    except UnresolvableHostError:
        raise DestinationError("The host name does not resolve.") from None
    except NonPublicHostError:
        raise DestinationError("Webhooks can't be sent to private, loopback or link-local addresses.") from None


def destination_check(url: str) -> None:
    """Raise DestinationError if webhooks may not be sent to `url`."""
    destination_resolve(url)


def destination_resolve(url: str) -> Destination:
    parts = _parts(url)
    if settings.WEBHOOKS_ALLOW_PRIVATE:
        return Destination(url=url)
    if parts.scheme != "https":
        raise DestinationError("Use an https:// URL.")
    port = parts.port or 443
    address = _public_addresses(parts.hostname, port)[0]
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return Destination(url=pinned, host_header=parts.netloc.rpartition("@")[2], sni_hostname=parts.hostname)
