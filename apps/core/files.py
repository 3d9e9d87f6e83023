"""Links to stored files, signed at read time and short-lived.

A link names a storage path and expires; it is never stored. Links are stable within a time
bucket so browsers can cache the image while the link is valid.
"""

import time

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "darkroom.files"


class _BucketedSigner(signing.TimestampSigner):
    def timestamp(self):
        bucket = max(60, settings.FILE_URL_TTL // 4)
        return signing.b62_encode(int(time.time()) // bucket * bucket)


def _signer() -> _BucketedSigner:
    return _BucketedSigner(salt=SALT)


def signed_file_url(path: str, *, absolute: bool = False) -> str:
    url = reverse("file", kwargs={"token": _signer().sign_object(path)})
    return settings.SITE_URL + url if absolute else url


def signed_file_path(token: str) -> str | None:
    """The storage path a token names, or None if it is forged or expired."""
    try:
        return _signer().unsign_object(token, max_age=settings.FILE_URL_TTL)
    except signing.BadSignature:
        return None
