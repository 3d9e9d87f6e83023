"""Red → made again once: a new generation with a new seed, linked to the first; when it is delivered
the first one's charge is returned, so the user pays for one image."""

import logging
import secrets

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.credits import services as credits_services
from apps.generations import services as generation_services
from apps.generations.models import Generation, Status

from ..models import ImageReview, Regeneration, Verdict
from .policy import policy_get

logger = logging.getLogger(__name__)

REFUND_MEMO = "Returned: the first image failed its review and was made again"


def _create_kwargs(generation: Generation) -> dict:
    params = generation.params or {}
    inputs = params.get("inputs") or {}
    kwargs = {
        "user": generation.owner, "model_slug": generation.catalog_model.slug, "prompt": generation.prompt,
        "negative_prompt": generation.negative_prompt, "tier": params.get("tier"),
        "num_images": generation.num_images, "image_upload_id": inputs.get("image"),
        "mask_upload_id": inputs.get("mask"), "reference_upload_ids": tuple(inputs.get("references") or ()),
        "strength": params.get("strength"), "duration_seconds": params.get("duration_seconds"),
    }
    if not inputs:
        kwargs["aspect_ratio"] = params.get("aspect_ratio")  # an edit takes its shape from the photo
    if generation.catalog_model.supports_seed:
        seed = generation.seed
        while seed == generation.seed:
            seed = str(secrets.randbelow(2**32))
        kwargs["seed"] = seed
    return kwargs


def review_regenerate(*, generation: Generation, reason: str) -> Generation | None:
    """Make a red generation again, once. Not for a replacement itself, a cached result, or a model
    that would give the same image again (deterministic without a seed)."""
    model = generation.catalog_model
    if generation.cached_from_id or (model.deterministic and not model.supports_seed):
        return None
    if Regeneration.objects.filter(Q(original=generation) | Q(replacement=generation)).exists():
        return None
    try:
        with transaction.atomic():
            replacement = generation_services.generation_create(**_create_kwargs(generation))
            Regeneration.objects.create(original=generation, replacement=replacement, reason=reason[:300])
    except IntegrityError:
        return None  # another worker made it again first
    except ApplicationError as error:
        # Out of credits, the model went away, a limit: the red image stays, as delivered.
        logger.info("regeneration refused", extra={"generation": str(generation.pk), "code": error.code})
        return None
    return replacement


def review_regenerate_red(*, generation_id) -> Generation | None:
    """A generation was reviewed red: make it again if staff want that (ReviewPolicy.regenerate_on_red)."""
    if not policy_get().regenerate_on_red:
        return None
    generation = Generation.objects.select_related("catalog_model", "owner").filter(
        pk=generation_id, status=Status.SUCCEEDED).first()
    if generation is None:
        return None
    red = ImageReview.objects.filter(generation=generation, verdict=Verdict.RED).first()
    if red is None:
        return None
    reasons = [j["reason"] for j in red.judges if not j["passed"] and j.get("reviewed", True)]
    return review_regenerate(generation=generation, reason=" ".join(reasons))


def review_regeneration_settle(*, generation_id) -> Regeneration | None:
    """The replacement was delivered: return the original's charge (once, by the ledger key)."""
    with transaction.atomic():
        link = Regeneration.objects.select_for_update().select_related("original__owner").filter(
            replacement_id=generation_id, refunded_at__isnull=True, replacement__status=Status.SUCCEEDED
        ).first()
        if link is None:
            return None
        entry = credits_services.credits_refund_charge(generation=link.original, memo=REFUND_MEMO)
        link.refunded_credits = entry.amount if entry else 0
        link.refunded_at = timezone.now()
        link.save(update_fields=["refunded_credits", "refunded_at", "updated_at"])
    return link
