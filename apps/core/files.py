"""Links to stored files, signed at read time and short-lived.

A link names a storage path and expires; it is never stored. Links are stable within a time
bucket so browsers can cache the image while the link is valid.
"""

import time

from django.conf import settings
from django.core import signing
from django.urls import get_script_prefix, get_urlconf, reverse

SALT = "darkroom.files"
_TOKEN_PLACEHOLDER = "0token0"
_url_templates: dict[tuple, tuple[str, str]] = {}


def link_bucket_seconds() -> int:
    """Length of the time bucket links are stable within (a quarter of their lifetime)."""
    return max(60, settings.FILE_URL_TTL // 4)


def link_bucket() -> int:
    """Start of the current bucket: every link signed now carries this timestamp."""
    bucket = link_bucket_seconds()
    return int(time.time()) // bucket * bucket


class _BucketedSigner(signing.TimestampSigner):
    def timestamp(self):
        return signing.b62_encode(link_bucket())


def _signer() -> _BucketedSigner:
    return _BucketedSigner(salt=SALT)


def _file_url(token: str) -> str:
    """reverse("file", token=…) without resolving the pattern each time: a page signs dozens of
    links. Tokens are URL-safe base64 and ':', which reverse() leaves unquoted too."""
    key = (get_script_prefix(), get_urlconf(), settings.ROOT_URLCONF)
    if key not in _url_templates:
        before, _, after = reverse("file", kwargs={"token": _TOKEN_PLACEHOLDER}).partition(_TOKEN_PLACEHOLDER)
        _url_templates[key] = (before, after)
    before, after = _url_templates[key]
    return before + token + after


def signed_file_url(path: str, *, absolute: bool = False) -> str:
    url = _file_url(_signer().sign_object(path))
    return settings.SITE_URL + url if absolute else url


def signed_file_path(token: str) -> str | None:
    """The storage path a token names, or None if it is forged or expired."""
    try:
        return _signer().unsign_object(token, max_age=settings.FILE_URL_TTL)
    except signing.BadSignature:
        return None
