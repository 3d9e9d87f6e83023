"""Rendered gallery cards, cached per generation.

A finished generation's card only changes when the generation does (its revision and updated_at
move) or when its signed links move to the next time bucket. The key names both, so a cached card
is byte for byte what a fresh render would give, and it expires with its bucket: its links are
never older than a fresh page's. Active cards (progress, a cancel form with a CSRF token) are
always rendered.
"""

import hashlib
import time
from functools import cache

from django.conf import settings
from django.core.cache import caches
from django.template.context_processors import csrf
from django.template.loader import get_template
from django.utils.safestring import SafeString, mark_safe

from apps.core.files import link_bucket, link_bucket_seconds

from .models import ACTIVE

CARD_TEMPLATE = "generations/_card.html"
# Slack so a card fetched at the very end of its bucket is not kept into the next one.
_EXPIRY_MARGIN_SECONDS = 5


@cache
def _version() -> str:
    """Changes with the card template and the signing key (a deploy or a key rotation)."""
    source = get_template(CARD_TEMPLATE).template.source
    return hashlib.blake2b(f"{source}|{settings.SECRET_KEY}".encode(), digest_size=6).hexdigest()


def card_key(row, bucket: int) -> str:
    """`row`: id, revision, updated_at and catalog_updated_at (the model's label is on the card)."""
    return (f"card:{_version()}:{bucket}:{row.pk}:{row.revision}:{row.updated_at.timestamp()}:"
            f"{row.catalog_updated_at.timestamp()}")


def cards_render(*, request, rows: list, load) -> list[SafeString]:
    """The HTML of one card per row, in order. `load(ids)` returns those generations ready to
    render (images and catalogue model fetched); it is called once, for the cards not cached."""
    bucket = link_bucket()
    keys = {row.pk: card_key(row, bucket) for row in rows if row.status not in ACTIVE}
    store = caches["fragments"]
    html = store.get_many(list(keys.values())) if keys else {}
    cards = {pk: html[key] for pk, key in keys.items() if key in html}
    missing = [row.pk for row in rows if row.pk not in cards]
    if missing:
        template = get_template(CARD_TEMPLATE)
        context = csrf(request)
        fresh = {}
        for generation in load(missing):
            cards[generation.pk] = template.render({**context, "generation": generation})
            if generation.pk in keys:
                fresh[keys[generation.pk]] = cards[generation.pk]
        if fresh and bucket == link_bucket():
            # Only until the bucket ends: the next one signs new links.
            remaining = bucket + link_bucket_seconds() - int(time.time())
            if remaining > _EXPIRY_MARGIN_SECONDS:
                store.set_many(fresh, timeout=remaining - _EXPIRY_MARGIN_SECONDS)
    return [mark_safe(cards[row.pk]) for row in rows if row.pk in cards]
