"""Stable, content-addressed URLs of shared images: /s/<share token>/<digest>.<ext>.

The digest is a hash of the share token and the stored file's key, so each variant (thumbnail,
preview, original) has one URL that never changes while the share lives, can be cached for long,
and names nothing internal (storage keys hold user ids). The token is new each time an image is
shared, so URLs of an image made private once stay dead when it is shared again.
"""

import hashlib

from django.conf import settings
from django.urls import reverse

VARIANTS = ("thumb", "preview", "original")


def share_digest(token: str, path: str) -> str:
    return hashlib.sha256(f"{token}:{path}".encode()).hexdigest()[:24]


def variant_path(share, variant: str) -> str | None:
    """The stored file behind a variant, or None when the share does not offer it."""
    image = share.image
    if variant == "thumb":
        return image.thumbnail or None
    if variant == "preview":
        return image.preview or image.thumbnail or None
    if variant == "original" and share.allow_original:
        return image.file or None
    return None


def share_file_url(share, variant: str = "thumb", *, absolute: bool = False) -> str:
    path = variant_path(share, variant)
    if not path:
        return ""
    extension = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else "bin"
    url = reverse("gallery:share_file",
                  kwargs={"token": share.token, "filename": f"{share_digest(share.token, path)}.{extension}"})
    return settings.SITE_URL + url if absolute else url


def share_file_path(share, digest: str) -> str | None:
    """The stored file a URL's digest names among the variants the share offers, or None."""
    for variant in VARIANTS:
        path = variant_path(share, variant)
        if path and share_digest(share.token, path) == digest:
            return path
    return None
