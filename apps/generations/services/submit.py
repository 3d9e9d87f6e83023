"""Submitting a generation: validate against the model's capabilities, quote, reuse a cached result
or reserve the quote and queue the work — or raise before anything happens."""

import hashlib
import json
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.catalog import pricing
from apps.catalog.auto import AUTO_MODEL, BUDGETS, auto_aspect_ratio, auto_model_choose
from apps.catalog.models import CatalogModel, dimensions_for, nearest_aspect_ratio
from apps.catalog.selectors import catalog_model_availability, preset_current_version
from apps.credits import services as credits_services
from apps.media import selectors as media_selectors
from apps.review import services as review_services

from .. import tasks
from ..exceptions import InvalidGenerationError, ModelUnavailableError
from ..models import Generation, GenerationImage, Status
from .state import announce_end, announce_progress

MAX_PROMPT_LENGTH = 2000
MAX_REFERENCES = 4
MAX_SEED = 2**64 - 1
# What a model must offer to start from a photo.
PHOTO_CAPABILITIES = (
    "image-to-image", "inpaint", "upscale", "remove-background", "face-swap", "image-to-video",
)


def _validated_params(
    *, catalog_model: CatalogModel, prompt: str, negative_prompt: str, aspect_ratio: str | None,
    tier: str | None, num_images: int, seed: str | int | None,
) -> dict:
    def invalid(message: str, field: str) -> InvalidGenerationError:
        return InvalidGenerationError(message, extra={"field": field})

    if not prompt.strip():
        raise invalid("Describe the image you want in the prompt.", "prompt")
    if len(prompt) > MAX_PROMPT_LENGTH:
        raise invalid(f"The prompt is too long: at most {MAX_PROMPT_LENGTH} characters.", "prompt")
    if negative_prompt.strip() and not catalog_model.supports_negative_prompt:
        raise invalid(f"{catalog_model.label} does not take a negative prompt.", "negative_prompt")
    if len(negative_prompt) > MAX_PROMPT_LENGTH:
        raise invalid(
            f"The negative prompt is too long: at most {MAX_PROMPT_LENGTH} characters.", "negative_prompt"
        )
    aspect_ratio = aspect_ratio or catalog_model.default_aspect_ratio
    if aspect_ratio not in catalog_model.aspect_ratios:
        choices = ", ".join(catalog_model.aspect_ratios)
        raise invalid(f"{catalog_model.label} offers these aspect ratios: {choices}.", "aspect_ratio")
    chosen_tier = catalog_model.tier(tier or None)
    if chosen_tier is None:
        choices = ", ".join(t["key"] for t in catalog_model.tiers)
        raise invalid(f"{catalog_model.label} offers these sizes: {choices}.", "tier")
    if not 1 <= num_images <= catalog_model.max_images:
        raise invalid(
            f"{catalog_model.label} makes 1 to {catalog_model.max_images} images at a time.", "num_images"
        )
    if seed not in (None, ""):
        if not catalog_model.supports_seed:
            raise invalid(f"{catalog_model.label} does not take a seed.", "seed")
        text = str(seed).strip()
        if not text.isdigit() or int(text) > MAX_SEED:
            raise invalid(f"The seed must be a whole number from 0 to {MAX_SEED}.", "seed")
        seed = str(int(text))
    else:
        seed = str(secrets.randbelow(2**32))
    width, height = dimensions_for(aspect_ratio=aspect_ratio, area=chosen_tier["area"])
    return {
        "aspect_ratio": aspect_ratio, "tier": chosen_tier["key"], "width": width, "height": height,
        "num_images": num_images, "seed": seed,
    }



def _validated_inputs(*, user, catalog_model: CatalogModel, image_upload_id, mask_upload_id,
                      reference_upload_ids) -> dict:
    """The uploads an edit starts from, owner-scoped and checked against what the model can do."""
    def invalid(message: str, field: str) -> InvalidGenerationError:
        return InvalidGenerationError(message, extra={"field": field})

    inputs: dict = {}
    if image_upload_id is None:
        if catalog_model.needs_image:
            raise invalid(f"{catalog_model.label} starts from a photo: choose one.", "image")
        if mask_upload_id or reference_upload_ids:
            raise invalid("A mask or reference images need a photo to start from.", "image")
        return inputs
    if not any(catalog_model.can(c) for c in PHOTO_CAPABILITIES):
        raise invalid(f"{catalog_model.label} does not start from a photo.", "image")
    photo = media_selectors.upload_get_for_user(user=user, upload_id=image_upload_id, kind="photo")
    inputs.update(
        image=str(photo.id), image_sha256=photo.sha256, image_width=photo.width, image_height=photo.height
    )
    if mask_upload_id is not None:
        if not catalog_model.can("inpaint"):
            raise invalid(f"{catalog_model.label} does not take a mask.", "mask")
        mask = media_selectors.upload_get_for_user(user=user, upload_id=mask_upload_id, kind="mask")
        if (mask.width, mask.height) != (photo.width, photo.height):
            raise invalid("The mask must be exactly the size of the photo.", "mask")
        inputs.update(mask=str(mask.id), mask_sha256=mask.sha256)
    if catalog_model.can("face-swap") and len(reference_upload_ids) != 1:
        # A face swap's one reference image is the face to put on the photo.
        raise invalid("Choose the photo of the face to use.", "references")
    if reference_upload_ids:
        if not (catalog_model.can("reference") or catalog_model.can("face-swap")):
            raise invalid(f"{catalog_model.label} does not take reference images.", "references")
        if len(reference_upload_ids) > MAX_REFERENCES:
            raise invalid(f"Use at most {MAX_REFERENCES} reference images.", "references")
        references = [
            media_selectors.upload_get_for_user(user=user, upload_id=ref) for ref in reference_upload_ids
        ]
        inputs.update(
            references=[str(r.id) for r in references], reference_sha256=[r.sha256 for r in references]
        )
    return inputs


def _input_dimensions(catalog_model: CatalogModel, params: dict, inputs: dict) -> None:
    """Edits take their shape from the photo: upscales multiply it, cut-outs keep it, repaints
    take the nearest ratio the model offers at the tier's pixel budget."""
    width, height = inputs["image_width"], inputs["image_height"]
    tier = catalog_model.tier(params["tier"])
    if catalog_model.can("upscale"):
        scale = tier.get("scale", 2)
        params.update(width=width * scale, height=height * scale, aspect_ratio=f"{width}:{height}")
    elif catalog_model.can("remove-background") or catalog_model.can("face-swap"):
        params.update(width=width, height=height, aspect_ratio=f"{width}:{height}")
    else:
        ratio = nearest_aspect_ratio(f"{width}:{height}", catalog_model.aspect_ratios)
        params["aspect_ratio"] = ratio
        params["width"], params["height"] = dimensions_for(aspect_ratio=ratio, area=tier["area"])



def _video_duration(catalog_model: CatalogModel, tier_key: str, duration_seconds) -> int:
    """A clip's length in whole seconds: one the tier offers (`durations`), else 1 to the maximum."""
    tier = catalog_model.tier(tier_key)
    offered = tier.get("durations") or []
    seconds = pricing.video_seconds(tier, duration_seconds)
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        seconds = 0
    if offered and seconds not in offered:
        choices = " or ".join(str(d) for d in offered)
        raise InvalidGenerationError(f"{catalog_model.label} makes clips of {choices} seconds.",
                                     extra={"field": "duration_seconds"})
    if not 1 <= seconds <= pricing.MAX_VIDEO_SECONDS:
        raise InvalidGenerationError(f"A clip lasts 1 to {pricing.MAX_VIDEO_SECONDS} seconds.",
                                     extra={"field": "duration_seconds"})
    return seconds


def _preset_version(slug: str | None):
    """The current version of the style chosen (a prompt preset), or None when none was."""
    if not slug:
        return None
    version = preset_current_version(slug=slug)
    if version is None:
        raise InvalidGenerationError("Choose one of the styles offered.", extra={"field": "preset"})
    return version


def _resolve_auto_model(*, prompt: str, tier: str | None, aspect_ratio: str | None, num_images: int,
                        image_upload_id, mask_upload_id, reference_upload_ids, duration_seconds,
                        preferred=()) -> tuple:
    """`model: "auto"` becomes one catalogue model here, once, at submit (apps/catalog/auto.py).
    With Auto, `tier` names a budget (economy, balanced, best) and the ratio may be any W:H.
    Returns (slug, aspect ratio, the card's one-line reason, the intent)."""
    choice = auto_model_choose(
        prompt=prompt, has_image=image_upload_id is not None, has_mask=mask_upload_id is not None,
        references=len(reference_upload_ids or ()), wants_video=duration_seconds is not None,
        aspect_ratio=aspect_ratio, num_images=num_images, budget=tier if tier in BUDGETS else None,
        duration_seconds=duration_seconds,
    )
    return choice.model.slug, auto_aspect_ratio(choice.model, aspect_ratio), choice.reason, choice.intent


def _cache_key(catalog_model: CatalogModel, prompt: str, negative_prompt: str, params: dict) -> str:
    normalised = {"model": catalog_model.slug, "prompt": prompt, "negative_prompt": negative_prompt, **params}
    return hashlib.sha256(json.dumps(normalised, sort_keys=True).encode()).hexdigest()


def generation_create(
    *, user, model_slug: str, prompt: str, negative_prompt: str = "", aspect_ratio: str | None = None,
    tier: str | None = None, num_images: int = 1, seed: str | int | None = None,
    image_upload_id=None, mask_upload_id=None, reference_upload_ids=(), strength: float | None = None,
    batch_id=None, duration_seconds: int | None = None, preset: str | None = None,
) -> Generation:
    """Validate, quote, reserve the quote and queue the work — or raise before anything happens.

    `batch_id`: the batch this generation is an item of; the whole batch counts as one job against
    the concurrent-jobs limit (its items must be linked to it as they are created).

    A deterministic model asked again for exactly what it already made (same seed, same inputs)
    reuses the stored result at once, for RESULT_CACHE_PRICE credits, with no provider call.

    `model_slug="auto"` lets the catalogue choose (`_resolve_auto_model`); the reason is the
    generation's first note."""
    # Before anything else: a refused prompt reserves nothing and reaches no provider.
    review_services.prompt_moderate(user=user, prompt=prompt, negative_prompt=negative_prompt)
    notes, auto_intent = [], None
    style = _preset_version(preset)  # wraps the prompt; its ratio when none was picked
    if style is not None and prompt.strip():
        prompt = style.wrap(prompt)[0]
    if model_slug == AUTO_MODEL:
        model_slug, aspect_ratio, reason, auto_intent = _resolve_auto_model(
            prompt=prompt, tier=tier, aspect_ratio=aspect_ratio or (style.aspect_ratio if style else None),
            num_images=num_images, image_upload_id=image_upload_id, mask_upload_id=mask_upload_id,
            reference_upload_ids=reference_upload_ids, duration_seconds=duration_seconds,
            preferred=style.model_hints if style else (),
        )
        tier, notes = None, [reason]
    try:
        catalog_model = CatalogModel.objects.get(slug=model_slug)  # slugs are unique: no ORDER BY
    except CatalogModel.DoesNotExist:
        raise InvalidGenerationError("Choose a model from the catalogue.", extra={"field": "model"}) from None
    availability = catalog_model_availability(catalog_model)
    if not availability.available:
        raise ModelUnavailableError(f"{catalog_model.label} is unavailable: {availability.reason}")
    if style is not None:
        if not aspect_ratio and style.aspect_ratio in catalog_model.aspect_ratios:
            aspect_ratio = style.aspect_ratio
        if catalog_model.supports_negative_prompt:
            negative_prompt = style.wrap("{prompt}", negative_prompt)[1]
    seed_given = seed not in (None, "")
    if catalog_model.needs_image and not prompt.strip():
        prompt = catalog_model.label  # an upscale or a cut-out needs no words
    params = _validated_params(
        catalog_model=catalog_model, prompt=prompt, negative_prompt=negative_prompt,
        aspect_ratio=aspect_ratio, tier=tier, num_images=num_images, seed=seed,
    )
    inputs = _validated_inputs(
        user=user, catalog_model=catalog_model, image_upload_id=image_upload_id,
        mask_upload_id=mask_upload_id, reference_upload_ids=tuple(reference_upload_ids or ()),
    )
    if inputs:
        _input_dimensions(catalog_model, params, inputs)
        params["inputs"] = inputs
    if catalog_model.kind == CatalogModel.Kind.VIDEO:
        params["duration_seconds"] = _video_duration(catalog_model, params["tier"], duration_seconds)
    elif duration_seconds is not None:
        raise InvalidGenerationError(
            f"{catalog_model.label} makes images, not clips: leave the duration out.",
            extra={"field": "duration_seconds"},
        )
    if auto_intent:
        params["auto_intent"] = auto_intent
    if style is not None:
        params.update(preset=style.preset.slug, preset_version=str(style.id))
    if strength is not None:
        if not 0 < float(strength) <= 1:
            raise InvalidGenerationError(
                "Strength must be above 0 and at most 1.", extra={"field": "strength"}
            )
        params["strength"] = float(strength)
    seed_value = params.pop("seed")
    cache_key = ""
    if catalog_model.deterministic and (seed_given or not catalog_model.supports_seed):
        cache_key = _cache_key(
            catalog_model, prompt.strip(), negative_prompt.strip(), {**params, "seed": seed_value}
        )
        cached = (
            Generation.objects
            .filter(owner=user, cache_key=cache_key, status=Status.SUCCEEDED, cached_from=None, deleted_at=None)
            .order_by("-created_at").first()
        )
        if cached is not None:
            return _generation_from_cache(user=user, source=cached, params=params, seed=seed_value,
                                          batch_id=batch_id)
    price = pricing.quote(catalog_model=catalog_model, tier=params["tier"], num_images=num_images,
                          duration_seconds=params.get("duration_seconds"))
    with transaction.atomic():
        generation = Generation.objects.create(
            owner=user, catalog_model=catalog_model, prompt=prompt.strip(),
            negative_prompt=negative_prompt.strip(), seed=seed_value, params=params, cache_key=cache_key,
            quoted_credits=price, notes=notes,
            deadline_at=timezone.now() + timedelta(seconds=catalog_model.deadline_seconds),
            timings={"queued": 0.0},
        )
        # Per-hour, concurrent-job and daily limits, under the user's account lock until commit.
        account = credits_services.credits_limits_check(user=user, amount=price, generation=generation,
                                                        batch_id=batch_id)
        credits_services.credits_reserve(generation=generation, amount=price, account=account,
                                         new_generation=True)
        # robust: with the broker down the job stays queued (and is re-sent by the reaper) instead
        # of failing a request whose generation is already committed.
        transaction.on_commit(
            lambda: tasks.generation_run_task.delay(generation_id=str(generation.id)), robust=True
        )
        announce_progress(generation)
    return generation


def _generation_from_cache(*, user, source: Generation, params: dict, seed: str, batch_id=None) -> Generation:
    """A new generation that shares the stored files of an identical earlier one."""
    price = settings.RESULT_CACHE_PRICE
    now = timezone.now()
    with transaction.atomic():
        generation = Generation.objects.create(
            owner=user, catalog_model=source.catalog_model, prompt=source.prompt,
            negative_prompt=source.negative_prompt, seed=seed, params=params, cache_key=source.cache_key,
            cached_from=source, quoted_credits=price, charged_credits=price,
            images_delivered=source.images_delivered, status=Status.SUCCEEDED, progress=1.0,
            dispatched_at=now, started_at=now, finishing_at=now, finished_at=now, deadline_at=now,
        )
        GenerationImage.objects.bulk_create([
            GenerationImage(
                generation=generation, index=image.index, file=image.file, preview=image.preview,
                thumbnail=image.thumbnail, blurhash=image.blurhash, width=image.width, height=image.height,
                size_bytes=image.size_bytes, sha256=image.sha256, content_type=image.content_type,
                duration_seconds=image.duration_seconds,
            )
            for image in source.images.all()
        ])
        review_services.review_reuse(generation=generation)  # flagged stays withheld from the first moment
        if price:
            account = credits_services.credits_limits_check(user=user, amount=price, generation=generation,
                                                            batch_id=batch_id)
            credits_services.credits_reserve(generation=generation, amount=price, account=account,
                                             new_generation=True)
            credits_services.credits_capture(generation=generation)
        announce_end(generation)
    return generation
