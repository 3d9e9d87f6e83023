"""The tiles of /explore, artist pages and the following feed, cached in the fragment cache.

A tile shows a share's thumbnail (its stable URL) on its BlurHash placeholder, the artist's handle
and the like count; the key names all of them, so a cached tile is exactly what a fresh one would
be. A page fetches its tiles in one round trip and draws only the missing ones (drawing a
placeholder is the costly part of a tile)."""

import logging

from django.core.cache import caches
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from redis.exceptions import RedisError

from apps.imaging.derivatives import blurhash_data_uri

from . import links

logger = logging.getLogger(__name__)
VERSION = 2
TIMEOUT_SECONDS = 24 * 3600


def _key(share) -> str:
    return f"gallery:tile:{VERSION}:{share.pk}:{share.token}:{share.like_count}:{share.handle}"


def _tile(share) -> str:
    image = share.image
    placeholder = blurhash_data_uri(image.blurhash or "")
    likes = (format_html('<span aria-label="{} like{}">♥ {}</span>', share.like_count,
                         "" if share.like_count == 1 else "s", share.like_count) if share.like_count else "")
    return format_html(
        '<a class="gtile" href="{}"{}><img src="{}" width="{}" height="{}" loading="lazy" alt="Image by @{}">'
        '<span class="gtile-caption"><span>@{}</span>{}</span></a>',
        reverse("gallery:image", kwargs={"token": share.token}),
        format_html(' style="background-image: url({})"', placeholder) if placeholder else "",
        links.share_file_url(share, "thumb"), image.width, image.height, share.handle, share.handle, likes,
    )


def tiles_html(shares) -> SafeString:
    """The tiles of `shares` (from selectors, which annotate each with its artist's `handle`)."""
    cache = caches["fragments"]
    keys = [_key(share) for share in shares]
    try:
        cached = cache.get_many(keys) if keys else {}
    except RedisError:
        logger.warning("fragment cache unavailable: drawing every tile")
        cached = {}
    missing = {}
    parts = []
    for share, key in zip(shares, keys):
        html = cached.get(key)
        if html is None:
            html = missing[key] = str(_tile(share))
        parts.append(html)
    if missing:
        try:
            cache.set_many(missing, timeout=TIMEOUT_SECONDS)
        except RedisError:
            pass
    return mark_safe("\n".join(parts))  # noqa: S308 — every part was built by format_html
