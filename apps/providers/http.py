"""A thin httpx wrapper that turns transport failures and HTTP statuses into provider errors.

Adapters look at the body first for what only they understand (safety verdicts, vendor error
codes) and hand the rest to `raise_for_status`.
"""

import email.utils
import ssl
import time

import httpx

from . import budget
from .exceptions import (
    ProviderAccountError,
    ProviderAmbiguousError,
    ProviderRejectedError,
    ProviderRetryableError,
)

# Our account is refused: the key (401), its rights (403) or its credit (402).
ACCOUNT_STATUSES = (401, 402, 403)
TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=30.0, pool=5.0)
# Building an SSL context costs ~20 ms; every client shares one.
SSL_CONTEXT = ssl.create_default_context()


def retry_after_seconds(response: httpx.Response) -> float | None:
    if value := response.headers.get("retry-after-ms"):
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def raise_for_status(response: httpx.Response) -> httpx.Response:
    if response.status_code == 429 or response.status_code == 408 or response.status_code >= 500:
        raise ProviderRetryableError(retry_after=retry_after_seconds(response),
                                     extra={"status": response.status_code})
    if response.status_code in ACCOUNT_STATUSES:
        raise ProviderAccountError(extra={"status": response.status_code})
    if response.status_code >= 400:
        raise ProviderRejectedError(extra={"status": response.status_code, "body": response.text[:500]})
    return response


# Failures that happen before the request can have reached the provider: nothing was made there.
REFUSED_TRANSPORT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def transport_error(error: httpx.TransportError) -> ProviderRetryableError:
    """A network failure, classed by whether the provider may have acted on the request: refused
    (nothing sent, safe to retry) or ambiguous (sent, answer lost: a job may exist and be billed)."""
    kind = ProviderRetryableError if isinstance(error, REFUSED_TRANSPORT) else ProviderAmbiguousError
    return kind(extra={"transport": type(error).__name__})


def send(client: httpx.Client, method: str, url: str, **kwargs) -> httpx.Response:
    """One HTTP call, its timeouts cut to the job's deadline; network failures become retryable
    provider errors (`transport_error`)."""
    kwargs.setdefault("timeout", budget.timeout(client.timeout))
    try:
        return client.request(method, url, **kwargs)
    except httpx.TransportError as error:
        raise transport_error(error) from error


def client(*, base_url: str, headers: dict[str, str], timeout: httpx.Timeout = TIMEOUT) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, follow_redirects=False, verify=SSL_CONTEXT)
