"""Links to stored files, sealed at read time and short-lived.

A link carries a storage path and expires; it is never stored. The path is encrypted, not only
signed (AES-SIV, keyed from SECRET_KEY): storage paths hold the owner's user id, which a link
passed around must not reveal. AES-SIV is deterministic, so links are stable within a time bucket
and browsers can cache the image while the link is valid; the bucket is authenticated with the
path, so neither can be changed or moved to another link.
"""

import base64
import binascii
import functools
import hashlib
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
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


@functools.cache
def _cipher(secret_key: str) -> AESSIV:
    return AESSIV(hashlib.sha512(f"{SALT}:{secret_key}".encode()).digest())  # a 512-bit key: AES-256-SIV


def _file_url(token: str) -> str:
    """reverse("file", token=…) without resolving the pattern each time: a page signs dozens of
    links. Tokens are URL-safe base64 and '.', which reverse() leaves unquoted too."""
    key = (get_script_prefix(), get_urlconf(), settings.ROOT_URLCONF)
    if key not in _url_templates:
        before, _, after = reverse("file", kwargs={"token": _TOKEN_PLACEHOLDER}).partition(_TOKEN_PLACEHOLDER)
        _url_templates[key] = (before, after)
    before, after = _url_templates[key]
    return before + token + after


def signed_file_url(path: str, *, absolute: bool = False) -> str:
    bucket = signing.b62_encode(link_bucket())
    sealed = _cipher(settings.SECRET_KEY).encrypt(path.encode(), [SALT.encode(), bucket.encode()])
    url = _file_url(f"{bucket}.{base64.urlsafe_b64encode(sealed).decode().rstrip('=')}")
    return settings.SITE_URL + url if absolute else url


def signed_file_path(token: str) -> str | None:
    """The storage path a token names, or None if it is forged, malformed or expired."""
    bucket, _, sealed = token.partition(".")
    try:
        if time.time() - signing.b62_decode(bucket) > settings.FILE_URL_TTL:
            return None
        data = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        return _cipher(settings.SECRET_KEY).decrypt(data, [SALT.encode(), bucket.encode()]).decode()
    except (ValueError, IndexError, OverflowError, binascii.Error, InvalidTag, UnicodeDecodeError):
        return None
