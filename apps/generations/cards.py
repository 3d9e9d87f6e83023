"""What a page shows of each generation — its gallery card, its API item — cached per generation.

A finished generation's card or item only changes when the generation does (its revision and
updated_at move) or when its signed links move to the next time bucket. The key names both, so a
cached one is exactly what a fresh one would be, and it expires with its bucket: its links are
never older than a fresh page's. Active generations (progress, a cancel form with a CSRF token)
are always made fresh.
"""

import hashlib
import logging
import math
import time
from functools import cache

from django.conf import settings
from django.core.cache import caches
from django.template.context_processors import csrf
from django.template.loader import get_template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from redis.exceptions import RedisError

from apps.catalog import pricing
from apps.core.exceptions import ApplicationError
from apps.core.files import link_bucket, link_bucket_seconds
from apps.ops.selectors.latency import model_time_to_result

from .models import ACTIVE, Status
from .services.state import SLOW_NOTE

logger = logging.getLogger(__name__)

CARD_TEMPLATE = "generations/_card.html"
# Notes about a wait still in progress: true while the job runs, stale once it ended. The stored
# notes keep them (the admin and the API show the job's history); the card drops them.
WAIT_NOTES = frozenset({SLOW_NOTE})
# Slack so a card fetched at the very end of its bucket is not kept into the next one.
_EXPIRY_MARGIN_SECONDS = 5


@cache
def _card_version() -> str:
    """Changes with the card template and the signing key (a deploy or a key rotation)."""
    source = get_template(CARD_TEMPLATE).template.source
    return hashlib.blake2b(f"{source}|{settings.SECRET_KEY}".encode(), digest_size=6).hexdigest()


def _cached_key(kind: str, version: str, row, bucket: int) -> str:
    """`row`: id, revision, updated_at and catalog_updated_at (the model is named on both)."""
    return (f"{kind}:{version}:{bucket}:{row.pk}:{row.revision}:{row.updated_at.timestamp()}:"
            f"{row.catalog_updated_at.timestamp()}")


def cached_per_generation(*, kind: str, version: str, rows: list, load, make, always_fresh=ACTIVE) -> list:
    """`make(generation)` for each row, in order, from the cache where the generation is finished
    (and its status not in `always_fresh`).
    `load(ids)` returns those generations ready for `make` (images and catalogue model fetched);
    it is called once, for the rows not cached. `version` must change when what `make` returns
    does."""
    bucket = link_bucket()
    keys = {row.pk: _cached_key(kind, version, row, bucket) for row in rows if row.status not in always_fresh}
    store = caches["fragments"]
    try:
        found = store.get_many(list(keys.values())) if keys else {}
    except RedisError:
        # The cache is a shortcut: with Redis away, pages are made fresh.
        logger.warning("fragment cache unavailable", exc_info=True)
        keys, found = {}, {}
    made = {pk: found[key] for pk, key in keys.items() if key in found}
    missing = [row.pk for row in rows if row.pk not in made]
    if missing:
        fresh = {}
        for generation in load(missing):
            made[generation.pk] = make(generation)
            if generation.pk in keys:
                fresh[keys[generation.pk]] = made[generation.pk]
        if fresh and bucket == link_bucket():
            # Only until the bucket ends: the next one signs new links.
            remaining = bucket + link_bucket_seconds() - int(time.time())
            if remaining > _EXPIRY_MARGIN_SECONDS:
                try:
                    store.set_many(fresh, timeout=remaining - _EXPIRY_MARGIN_SECONDS)
                except RedisError:
                    logger.warning("fragment cache unavailable", exc_info=True)
    return [made[row.pk] for row in rows if row.pk in made]


def cards_render(*, request, rows: list, load) -> list[SafeString]:
    """The HTML of one card per row, in order (see cached_per_generation)."""
    template = get_template(CARD_TEMPLATE)
    context = csrf(request)
    cards = cached_per_generation(
        kind="card", version=_card_version(), rows=rows, load=load,
        make=lambda generation: template.render({**context, "generation": generation}),
        # A failed card's "Try again" is a form with this request's CSRF token: made fresh, like
        # an active card's Cancel, so it posts without JavaScript after a new sign-in too.
        always_fresh=(*ACTIVE, Status.FAILED),
    )
    return [mark_safe(card) for card in cards]


def card_notes(generation) -> list[str]:
    """The notes a card shows: all of them while the job runs, only the lasting ones after."""
    if generation.is_active:
        return list(generation.notes)
    return [note for note in generation.notes if note not in WAIT_NOTES]


def sizes_label(images) -> str:
    """The delivered files' real sizes, each once, in order ("1024×1536" or "1024×1024, 768×768"):
    a provider may deliver another size than the one asked for."""
    return ", ".join(dict.fromkeys(f"{image.width}×{image.height}" for image in images))


def retry_quote(generation) -> int | None:
    """What asking again for what `generation` asked for costs now (None if it can't be quoted)."""
    try:
        return pricing.quote(catalog_model=generation.catalog_model, tier=generation.params.get("tier"),
                             num_images=generation.num_images,
                             duration_seconds=generation.params.get("duration_seconds"))
    except ApplicationError:
        return None


def requested_size(generation) -> str:
    return f"{generation.width}×{generation.height}"


def eta_label(generation) -> str:
    """"about 12 s left" on an active card: the model's learned P50 time to result (its P95 once the
    P50 has passed) minus the time since submit; nothing once both have passed (the slow note says so)."""
    if generation.status not in ACTIVE:
        return ""
    expected = model_time_to_result(model_slug=generation.catalog_model.slug,
                                    typical_seconds=generation.catalog_model.typical_seconds)
    elapsed = (timezone.now() - generation.created_at).total_seconds()
    left = expected.p50 - elapsed if elapsed < expected.p50 else expected.p95 - elapsed
    if left < 1:
        return ""
    return f"about {math.ceil(left)} s left" if left < 90 else f"about {math.ceil(left / 60)} min left"


def waited_seconds(generation) -> float | None:
    """What the user waited, submit to result; the provider's own time is only part of it."""
    if generation.finished_at is None:
        return None
    return (generation.finished_at - generation.created_at).total_seconds()
