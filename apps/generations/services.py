"""Every write to a generation: create, run, progress, finish, fail, cancel, reap.

Each service locks the row, checks the state it expects and returns quietly if another
process got there first, so tasks and retries can call them twice.
"""

import base64
import hashlib
import json
import logging
import math
import secrets
import time
import uuid
from dataclasses import replace
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from apps.catalog.models import CatalogModel, dimensions_for, nearest_aspect_ratio
from apps.catalog.selectors import catalog_model_availability, route_is_configured
from apps.core import events, leases
from apps.core.exceptions import NotFoundError
from apps.credits import pricing as credits_pricing
from apps.credits import selectors as credits_selectors
from apps.credits import services as credits_services
from apps.media import selectors as media_selectors
from apps.media.models import Upload
from apps.media.storage import file_read
from apps.providers import breaker
from apps.providers.exceptions import (
    ProviderAccountError,
    ProviderBlockedError,
    ProviderError,
    ProviderRejectedError,
    ProviderRetryableError,
)
from apps.providers.face_swap import NO_FACE_CODE, no_face_message_from
from apps.providers.models import ProviderCall, WebhookDelivery
from apps.providers.registry import adapter_get, adapter_retry_policy
from apps.providers.retry import call_with_retry
from apps.providers.services import provider_call_record, provider_webhook_url
from apps.providers.types import GenerationRequest, JobState, ProviderStatus, Route, WebhookEvent
from apps.realtime.publish import publish_to_user

from . import previews, recovery, storage, tasks
from .exceptions import InvalidGenerationError, ModelUnavailableError, NotCancelableError
from .models import ACTIVE, Generation, GenerationImage, Status

logger = logging.getLogger(__name__)

MAX_PROMPT_LENGTH = 2000
MAX_REFERENCES = 4
MAX_SEED = 2**64 - 1
INTERNAL_ERROR_MESSAGE = "Something went wrong on our side while making this image. You were not charged."
TIMEOUT_MESSAGE = "This took too long and was stopped. You were not charged."
ALL_ROUTES_DOWN_MESSAGE = "The image service is unavailable right now. Please try again later. You were not charged."
SLOW_NOTE = "Taking longer than usual."
NEGATIVE_PROMPT_DROPPED = "The negative prompt was not used: the service running this model does not take one."
# A job stuck in `finishing` this long had its worker die mid-save: another may finish it.
FINISHING_STALE_AFTER = timedelta(minutes=2)


# ---------------------------------------------------------------- quote and validation


def generation_quote(
    *, catalog_model: CatalogModel, tier: str | None, num_images: int, duration_seconds: int | None = None
) -> int:
    chosen = catalog_model.tier(tier)
    if chosen is None:
        raise InvalidGenerationError("Choose one of the sizes this model offers.", extra={"field": "tier"})
    return credits_pricing.price_credits(
        catalog_model=catalog_model, tier=chosen, num_images=num_images, duration_seconds=duration_seconds
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
        raise invalid(f"The negative prompt is too long: at most {MAX_PROMPT_LENGTH} characters.", "negative_prompt")
    aspect_ratio = aspect_ratio or catalog_model.default_aspect_ratio
    if aspect_ratio not in catalog_model.aspect_ratios:
        choices = ", ".join(catalog_model.aspect_ratios)
        raise invalid(f"{catalog_model.label} offers these aspect ratios: {choices}.", "aspect_ratio")
    chosen_tier = catalog_model.tier(tier or None)
    if chosen_tier is None:
        choices = ", ".join(t["key"] for t in catalog_model.tiers)
        raise invalid(f"{catalog_model.label} offers these sizes: {choices}.", "tier")
    if not 1 <= num_images <= catalog_model.max_images:
        raise invalid(f"{catalog_model.label} makes 1 to {catalog_model.max_images} images at a time.", "num_images")
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


# ---------------------------------------------------------------- live updates


def _card_html(generation: Generation, *, preview: bytes | None = None) -> str:
    preview_url = f"data:image/jpeg;base64,{base64.b64encode(preview).decode()}" if preview else None
    return render_to_string(
        "generations/_card.html", {"generation": generation, "preview_url": preview_url, "oob": True}
    )


def generation_event_data(generation: Generation) -> dict:
    return {
        "id": str(generation.id),
        "status": generation.status,
        "progress": round(generation.progress, 4),
        "revision": generation.revision,
        "error_code": generation.error_code or None,
        "error_message": generation.error_message or None,
    }


def _publish(generation: Generation, *, preview: bytes | None = None) -> None:
    event = "generation.progress" if generation.is_active else f"generation.{generation.status}"
    data = generation_event_data(generation)
    balance_too = generation.status == Status.QUEUED or not generation.is_active

    def html() -> str:
        # Rendered once the transaction has committed: the row lock is not held while the card is
        # drawn, and a submit's job is already on its way to a worker. The card is drawn from this
        # state (services change nothing on the object after publishing it).
        card = _card_html(generation, preview=preview)
        if balance_too:
            # Credits moved (held on submit, charged or returned at the end): refresh the header too.
            balance = credits_selectors.credits_balance_get(user=generation.owner_id)
            card += render_to_string("_balance.html", {"credit_balance": balance, "oob": True})
        return card

    publish_to_user(
        user_id=generation.owner_id, event=event, data=data, html=html,
        on_delivered=None if generation.is_active else (lambda: _generation_published(generation.pk, generation)),
    )


def _generation_published(generation_id, generation: Generation | None = None) -> None:
    """The final event is out: close the phase timings with it and, for a job that ran, the
    overhead — our share of submit → final event, i.e. minus the provider's own reported time.

    One conditional UPDATE, no lock: after the end nothing else writes the timings, and a second
    delivery finds `event_published` already there and changes nothing."""
    if generation is None:
        generation = Generation.objects.only("id", "created_at", "timings", "predict_seconds").filter(
            pk=generation_id
        ).first()
        if generation is None:
            return
    if "event_published" in (generation.timings or {}):
        return
    generation.timing_mark("event_published")
    timings = generation.timings
    if "provider_end" in timings and generation.predict_seconds is not None:
        timings["overhead"] = round(timings["event_published"] - generation.predict_seconds, 4)
    Generation.objects.filter(pk=generation_id).exclude(timings__has_key="event_published").update(timings=timings)


def _save(generation: Generation, *fields: str) -> None:
    generation.revision += 1
    generation.save(update_fields=[*fields, "status", "revision", "updated_at"])


def _announce_end(generation: Generation) -> None:
    """Tell subscribers (a workflow step or batch waiting on it, webhooks) that it ended."""
    events.emit(events.GenerationFinished(
        user_id=generation.owner_id, generation_id=str(generation.pk), status=generation.status,
    ))


def _locked(generation_id) -> Generation | None:
    # Lock only the generation row: the catalogue row is shared by every job of the model. The owner
    # comes along unlocked: charging or releasing credits at the end reads it.
    return (
        Generation.objects.select_for_update(of=("self",)).select_related("catalog_model", "owner")
        .filter(pk=generation_id).first()
    )


# ---------------------------------------------------------------- create and cancel


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
    if not any(catalog_model.can(c) for c in ("image-to-image", "inpaint", "upscale", "remove-background", "face-swap",
                                              "image-to-video")):
        raise invalid(f"{catalog_model.label} does not start from a photo.", "image")
    photo = media_selectors.upload_get_for_user(user=user, upload_id=image_upload_id, kind="photo")
    inputs.update(image=str(photo.id), image_sha256=photo.sha256, image_width=photo.width, image_height=photo.height)
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
        references = [media_selectors.upload_get_for_user(user=user, upload_id=ref) for ref in reference_upload_ids]
        inputs.update(references=[str(r.id) for r in references], reference_sha256=[r.sha256 for r in references])
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
    seconds = credits_pricing.video_seconds(tier, duration_seconds)
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        seconds = 0
    if offered and seconds not in offered:
        choices = " or ".join(str(d) for d in offered)
        raise InvalidGenerationError(f"{catalog_model.label} makes clips of {choices} seconds.",
                                     extra={"field": "duration_seconds"})
    if not 1 <= seconds <= credits_pricing.MAX_VIDEO_SECONDS:
        raise InvalidGenerationError(f"A clip lasts 1 to {credits_pricing.MAX_VIDEO_SECONDS} seconds.",
                                     extra={"field": "duration_seconds"})
    return seconds


def _cache_key(catalog_model: CatalogModel, prompt: str, negative_prompt: str, params: dict) -> str:
    normalised = {"model": catalog_model.slug, "prompt": prompt, "negative_prompt": negative_prompt, **params}
    return hashlib.sha256(json.dumps(normalised, sort_keys=True).encode()).hexdigest()


def generation_create(
    *, user, model_slug: str, prompt: str, negative_prompt: str = "", aspect_ratio: str | None = None,
    tier: str | None = None, num_images: int = 1, seed: str | int | None = None,
    image_upload_id=None, mask_upload_id=None, reference_upload_ids=(), strength: float | None = None,
    batch_id=None, duration_seconds: int | None = None,
) -> Generation:
    """Validate, quote, reserve the quote and queue the work — or raise before anything happens.

    `batch_id`: the batch this generation is an item of; the whole batch counts as one job against
    the concurrent-jobs limit (its items must be linked to it as they are created).

    A deterministic model asked again for exactly what it already made (same seed, same inputs)
    reuses the stored result at once, for RESULT_CACHE_PRICE credits, with no provider call."""
    try:
        catalog_model = CatalogModel.objects.get(slug=model_slug)  # slugs are unique: no ORDER BY
    except CatalogModel.DoesNotExist:
        raise InvalidGenerationError("Choose a model from the catalogue.", extra={"field": "model"}) from None
    availability = catalog_model_availability(catalog_model)
    if not availability.available:
        raise ModelUnavailableError(f"{catalog_model.label} is unavailable: {availability.reason}")
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
        raise InvalidGenerationError(f"{catalog_model.label} makes images, not clips: leave the duration out.",
                                     extra={"field": "duration_seconds"})
    if strength is not None:
        if not 0 < float(strength) <= 1:
            raise InvalidGenerationError("Strength must be above 0 and at most 1.", extra={"field": "strength"})
        params["strength"] = float(strength)
    seed_value = params.pop("seed")
    cache_key = ""
    if catalog_model.deterministic and (seed_given or not catalog_model.supports_seed):
        cache_key = _cache_key(catalog_model, prompt.strip(), negative_prompt.strip(), {**params, "seed": seed_value})
        cached = (
            Generation.objects.filter(owner=user, cache_key=cache_key, status=Status.SUCCEEDED, cached_from=None)
            .order_by("-created_at").first()
        )
        if cached is not None:
            return _generation_from_cache(user=user, source=cached, params=params, seed=seed_value,
                                          batch_id=batch_id)
    price = generation_quote(catalog_model=catalog_model, tier=params["tier"], num_images=num_images,
                             duration_seconds=params.get("duration_seconds"))
    with transaction.atomic():
        generation = Generation.objects.create(
            owner=user, catalog_model=catalog_model, prompt=prompt.strip(),
            negative_prompt=negative_prompt.strip(), seed=seed_value, params=params, cache_key=cache_key,
            quoted_credits=price, deadline_at=timezone.now() + timedelta(seconds=catalog_model.deadline_seconds),
            timings={"queued": 0.0},
        )
        # Per-hour, concurrent-job and daily limits, under the user's account lock until commit.
        account = credits_services.credits_limits_check(user=user, amount=price, generation=generation,
                                                        batch_id=batch_id)
        credits_services.credits_reserve(generation=generation, amount=price, account=account,
                                         new_generation=True)
        # robust: with the broker down the job stays queued (and is re-sent by the reaper) instead
        # of failing a request whose generation is already committed.
        transaction.on_commit(lambda: tasks.generation_run_task.delay(generation_id=str(generation.id)), robust=True)
        _publish(generation)
    return generation


def _generation_from_cache(*, user, source: Generation, params: dict, seed: str, batch_id=None) -> Generation:
    """A new generation that shares the stored files of an identical earlier one."""
    price = settings.RESULT_CACHE_PRICE
    now = timezone.now()
    with transaction.atomic():
        generation = Generation.objects.create(
            owner=user, catalog_model=source.catalog_model, prompt=source.prompt,
            negative_prompt=source.negative_prompt, seed=seed, params=params, cache_key=source.cache_key,
            cached_from=source, quoted_credits=price, status=Status.SUCCEEDED, progress=1.0,
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
        if price:
            account = credits_services.credits_limits_check(user=user, amount=price, generation=generation,
                                                            batch_id=batch_id)
            credits_services.credits_reserve(generation=generation, amount=price, account=account,
                                             new_generation=True)
            credits_services.credits_capture(generation=generation)
        _publish(generation)
        _announce_end(generation)
    return generation


def generation_cancel(*, user, generation_id) -> Generation:
    try:
        generation_id = uuid.UUID(str(generation_id))
    except ValueError:
        raise NotFoundError("Generation not found.") from None
    with transaction.atomic():
        generation = Generation.objects.select_for_update().filter(pk=generation_id, owner=user).first()
        if generation is None:
            raise NotFoundError("Generation not found.")
        if generation.status == Status.CANCELED:
            return generation
        if not generation.is_cancelable:
            raise NotCancelableError()
        generation.cancel()
        generation.finished_at = timezone.now()
        _save(generation, "finished_at")
        credits_services.credits_release(generation=generation)
        _publish(generation)
        _announce_end(generation)
        provider, job_id = generation.provider, generation.provider_job_id
        transaction.on_commit(lambda: _cancel_at_provider(provider, job_id))
    return generation


# ---------------------------------------------------------------- running


def _note(generation: Generation, text: str) -> None:
    if text not in generation.notes:
        generation.notes = [*generation.notes, text]


def _base_request(generation: Generation) -> GenerationRequest:
    """What every route gets, input images included (read once per run, not once per route)."""
    inputs = generation.params.get("inputs") or {}
    return GenerationRequest(
        job_id=str(generation.id), provider_model="", prompt=generation.prompt,
        negative_prompt=generation.negative_prompt, width=generation.width, height=generation.height,
        aspect_ratio=generation.params.get("aspect_ratio", "1:1"), num_images=generation.num_images,
        seed=generation.seed or None, strength=generation.params.get("strength"),
        image=_upload_bytes(inputs.get("image")), mask=_upload_bytes(inputs.get("mask")),
        references=tuple(_upload_bytes(ref) for ref in inputs.get("references", ())),
        duration_seconds=generation.params.get("duration_seconds"),
    )


def _route_request(
    generation: Generation, route: Route, base: GenerationRequest | None = None
) -> tuple[GenerationRequest, list[str]]:
    """The request for one route, re-mapped to what that route accepts, and what the user should know."""
    base = base or _base_request(generation)
    notes = []
    aspect_ratio, width, height = base.aspect_ratio, base.width, base.height
    if (ratios := route.options.get("aspect_ratios")) and aspect_ratio not in ratios:
        aspect_ratio = nearest_aspect_ratio(aspect_ratio, ratios)
        width, height = dimensions_for(aspect_ratio=aspect_ratio, area=width * height)
    negative_prompt = base.negative_prompt
    if negative_prompt and not route.supports_negative_prompt:
        negative_prompt = ""
        notes.append(NEGATIVE_PROMPT_DROPPED)
    request = replace(
        base, provider_model=route.model, negative_prompt=negative_prompt, width=width, height=height,
        aspect_ratio=aspect_ratio, options=route.options, webhook_url=provider_webhook_url(route.provider),
    )
    return request, notes


def _upload_bytes(upload_id) -> bytes | None:
    if not upload_id:
        return None
    upload = Upload.objects.filter(pk=upload_id).first()
    if upload is None:
        raise ProviderRejectedError("An input image of this generation no longer exists. You were not charged.")
    return file_read(upload.file)


def _generation_claim(generation_id) -> Generation | None:
    """Take the job for this worker. A redelivered task finds it dispatched or running and goes on."""
    with transaction.atomic():
        generation = _locked(generation_id)
        if generation is None or generation.status not in (Status.QUEUED, Status.DISPATCHED, Status.RUNNING):
            return None
        if generation.status == Status.QUEUED:
            generation.dispatch()
            generation.dispatched_at = timezone.now()
            generation.timing_mark("dispatched", generation.dispatched_at)
            _save(generation, "dispatched_at", "timings")
            # Published by generation_run only if the route queues the job (see there).
    return generation


def _generation_mark_running(generation_id, *, route_index: int, route: Route, provider_job_id: str = "",
                             notes: list[str] = ()) -> bool:
    with transaction.atomic():
        generation = _locked(generation_id)
        if generation is None or generation.status not in (Status.DISPATCHED, Status.RUNNING):
            return False
        if generation.status == Status.DISPATCHED:
            generation.start()
            generation.started_at = timezone.now()
            generation.timing_mark("provider_start", generation.started_at)
        generation.provider, generation.route_index, generation.provider_job_id = route.provider, route_index, provider_job_id
        for note in notes:
            _note(generation, note)
        _save(generation, "started_at", "provider", "route_index", "provider_job_id", "notes", "timings")
        _publish(generation)
    return True


def _generation_add_note(generation_id, text: str) -> None:
    with transaction.atomic():
        generation = _locked(generation_id)
        if generation is not None and generation.is_active and text not in generation.notes:
            _note(generation, text)
            _save(generation, "notes")
            _publish(generation)


def generation_run(*, generation_id) -> None:
    """Run the job on the first healthy route of its model's chain, falling back on outages."""
    generation = _generation_claim(generation_id)
    if generation is None:
        return
    if generation.provider_job_id:
        # A redelivered task for a job already submitted: keep tracking it, never submit twice.
        tasks.generation_poll_task.delay(generation_id=str(generation_id))
        return
    routes, base, outage, attempted = generation.catalog_model.route_list, None, False, False
    refused: ProviderAccountError | None = None
    for index in range(generation.route_index, len(routes)):
        route = routes[index]
        if not route_is_configured(route) or route.max_images < generation.num_images:
            continue
        if generation.params.get("inputs") and not route.options.get("accepts_image"):
            continue
        if not breaker.breakers_allow(route.breaker_keys):
            outage = True
            _generation_add_note(generation_id, SLOW_NOTE)
            continue
        if not attempted and not adapter_get(route.provider).blocking:
            # A provider that queues the job may take a while to accept it: show it is on its way.
            # One that runs it while we wait says "running" a moment later, so no event for that.
            _publish(generation)
        attempted = True
        try:
            base = base or _base_request(generation)
            finished = _run_route(generation, index, route, base)
        except ProviderAccountError as error:
            # Our key or account is refused there: a setup error for staff, not an outage. Next route.
            breaker.breakers_record_refusal(route.breaker_keys, status=error.status)
            refused = error
            continue
        except ProviderRetryableError:
            outage = True
            for key in route.breaker_keys:
                breaker.breaker_record_failure(key)
            _generation_add_note(generation_id, SLOW_NOTE)
            continue
        except ProviderBlockedError as error:
            generation_reject(generation_id=generation_id, message=error.message)
            return
        except ProviderError as error:
            generation_fail(generation_id=generation_id, code=error.code, message=error.message)
            return
        breaker.breakers_record_success(route.breaker_keys)
        if finished is not None:
            generation_apply_result(generation_id=generation_id, status=finished)
        return
    if outage and _generation_wait_for_routes(generation_id):
        return
    if refused is not None and not outage:
        generation_fail(generation_id=generation_id, code=refused.code, message=refused.message)
        return
    generation_fail(generation_id=generation_id, code="provider_unavailable", message=ALL_ROUTES_DOWN_MESSAGE)


def _generation_wait_for_routes(generation_id) -> bool:
    """Every route is down for now (open breakers, 5xx, 429): run the chain again from the top after
    a breaker cooldown, a few times, while the deadline allows. False when the job should fail now."""
    delay = settings.BREAKER_COOLDOWN_SECONDS
    with transaction.atomic():
        generation = _locked(generation_id)
        if generation is None or not generation.is_active:
            return True  # canceled meanwhile: nothing left to do
        if generation.outage_waits >= settings.GENERATION_OUTAGE_WAITS or (
            generation.deadline_at and timezone.now() + timedelta(seconds=delay) >= generation.deadline_at
        ):
            return False
        generation.outage_waits += 1
        generation.route_index = 0
        _save(generation, "outage_waits", "route_index")
        transaction.on_commit(lambda: tasks.generation_run_task.apply_async(
            kwargs={"generation_id": str(generation_id)}, countdown=delay
        ))
    return True


def _run_route(generation: Generation, index: int, route: Route, base: GenerationRequest) -> ProviderStatus | None:
    """Blocking routes return their final status; job routes are submitted and tracked later."""
    adapter = adapter_get(route.provider)
    request, notes = _route_request(generation, route, base)
    generation_id = generation.id
    if adapter.blocking:
        if not _generation_mark_running(generation_id, route_index=index, route=route, notes=notes):
            return None
        # Not retried here: a blocking run may bill per image, so adapters retry each call themselves.
        return _timed_call(route, "run", lambda: adapter.run(
            request,
            on_progress=lambda status: generation_apply_progress(generation_id=generation_id, status=status),
            is_canceled=lambda: Generation.objects.filter(pk=generation_id, status=Status.CANCELED).exists(),
        ))
    submitted = _timed_call(route, "submit", lambda: call_with_retry(
        lambda: adapter.submit(request), adapter_retry_policy(adapter)
    ))
    if not _generation_mark_running(generation_id, route_index=index, route=route,
                                    provider_job_id=submitted.provider_job_id, notes=notes):
        # Canceled while we were submitting: tell the provider too.
        _cancel_at_provider(route.provider, submitted.provider_job_id)
        return None
    if submitted.state.is_terminal:
        return submitted  # e.g. a synchronous answer to `Prefer: wait`
    tasks.generation_poll_task.apply_async(
        kwargs={"generation_id": str(generation_id)}, countdown=settings.PROVIDER_POLL_INTERVAL
    )
    return None


def _timed_call(route: Route, operation: str, call):
    started = time.monotonic()
    outcome = ProviderCall.Outcome.OK
    try:
        return call()
    except ProviderAccountError:
        outcome = ProviderCall.Outcome.CREDENTIALS_REFUSED
        raise
    except ProviderRetryableError:
        outcome = ProviderCall.Outcome.RETRYABLE
        raise
    except ProviderBlockedError:
        outcome = ProviderCall.Outcome.BLOCKED
        raise
    except ProviderError:
        outcome = ProviderCall.Outcome.REJECTED
        raise
    finally:
        provider_call_record(provider=route.provider, model=route.model, operation=operation, outcome=outcome,
                             seconds=time.monotonic() - started)


def _cancel_at_provider(provider: str, provider_job_id: str) -> None:
    """Best effort: a job we gave up on should stop costing at the provider too."""
    if not provider_job_id:
        return
    cancel = getattr(adapter_get(provider), "cancel", None)
    if cancel is None:
        return
    try:
        cancel(provider_job_id)
    except ProviderError:
        logger.warning("provider cancel failed", extra={"provider": provider, "job": provider_job_id})


def generation_poll(*, generation_id) -> bool:
    """Ask the provider how a job is doing. Returns True while it should be asked again."""
    generation = Generation.objects.select_related("catalog_model").filter(pk=generation_id).first()
    if generation is None or generation.status not in (Status.DISPATCHED, Status.RUNNING) or not generation.provider_job_id:
        return False
    if generation.deadline_at and timezone.now() >= generation.deadline_at:
        _cancel_at_provider(generation.provider, generation.provider_job_id)
        generation_fail(generation_id=generation_id, code="timeout", message=TIMEOUT_MESSAGE)
        return False
    adapter = adapter_get(generation.provider)
    try:
        status = adapter.poll(generation.provider_job_id)
    except ProviderAccountError as error:
        # Our key stopped working mid-job: the job can't be followed any more.
        breaker.breakers_record_refusal((generation.provider,), status=error.status)
        generation_fail(generation_id=generation_id, code="provider_unavailable", message=ALL_ROUTES_DOWN_MESSAGE)
        return False
    except ProviderRetryableError:
        return True  # the provider is flaky: the job may still be fine, ask again
    except ProviderError as error:
        generation_fail(generation_id=generation_id, code=error.code, message=error.message)
        return False
    return generation_apply_provider_status(generation_id=generation_id, status=status)


def generation_apply_provider_status(*, generation_id, status: ProviderStatus) -> bool:
    """What a poll or a webhook learned. Returns True while the job is still going."""
    if status.state.is_terminal:
        generation_apply_result(generation_id=generation_id, status=status)
        return False
    generation = Generation.objects.select_related("catalog_model").filter(pk=generation_id).first()
    if generation is None or not generation.is_active:
        return False
    progress = status.progress
    if progress is None and status.state == JobState.RUNNING and generation.started_at:
        progress = estimated_progress(
            elapsed=(timezone.now() - generation.started_at).total_seconds(),
            typical=generation.catalog_model.typical_seconds,
        )
    if progress is not None:
        generation_apply_progress(generation_id=generation_id, status=replace(status, progress=progress))
    if generation.started_at and (timezone.now() - generation.started_at).total_seconds() > 3 * generation.catalog_model.typical_seconds:
        _generation_add_note(generation_id, SLOW_NOTE)
    return True


def generation_apply_webhook(*, provider: str, event: WebhookEvent) -> None:
    """A verified webhook: applied once per delivery, to the job it names."""
    job_id = event.status.provider_job_id
    # A job id may carry routing details after a "|" that the provider's webhooks do not repeat
    # (fal's is "<request_id>|<owner/app>"): webhooks name the job by the part before it.
    generation = Generation.objects.filter(
        Q(provider_job_id=job_id) | Q(provider_job_id__startswith=f"{job_id}|"), provider=provider
    ).first()
    if generation is None:
        return
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(provider=provider, delivery_id=event.delivery_id,
                                           provider_job_id=event.status.provider_job_id)
    except IntegrityError:
        return  # a duplicate or a replay
    with leases.lease(generation.id) as held:
        if held:  # else a live poll or run is on the job and will see the same end
            generation_apply_provider_status(generation_id=generation.id, status=event.status)


def generation_apply_progress(*, generation_id, status: ProviderStatus) -> None:
    """Progress and a preview while running. Cheap: one conditional update, no lock."""
    progress = min(max(status.progress or 0.0, 0.0), 0.99)
    updated = Generation.objects.filter(pk=generation_id, status=Status.RUNNING, progress__lte=progress).update(
        progress=progress, revision=F("revision") + 1, updated_at=timezone.now()
    )
    if updated:
        generation = Generation.objects.select_related("catalog_model").get(pk=generation_id)
        _publish(generation, preview=status.preview)
        if status.preview:
            previews.previews_notify(generation=generation, progress=progress, preview=status.preview)


def generation_apply_result(*, generation_id, status: ProviderStatus) -> None:
    """Apply a provider's terminal status, exactly once whoever reports it first."""
    if status.state == JobState.SUCCEEDED:
        generation_finish(generation_id=generation_id, status=status)
    elif status.state == JobState.BLOCKED:
        generation_reject(generation_id=generation_id, message=ProviderBlockedError.default_message)
    elif status.state == JobState.FAILED:
        message = ProviderError.default_message
        if status.error_code == NO_FACE_CODE:  # a face swap's photo shows no face: say which
            message = no_face_message_from(status.error_message)
        generation_fail(generation_id=generation_id, code=status.error_code or "provider_error", message=message)
    elif status.state == JobState.CANCELED:
        generation_fail(generation_id=generation_id, code="provider_canceled", message=ProviderError.default_message)


def generation_finish(*, generation_id, status: ProviderStatus) -> None:
    """Store the outputs and charge, once: only the caller that moves the job to `finishing` does
    the work (or, if that worker died, whoever finds it stale)."""
    # Outputs that came as bytes start on their derivatives now, while the job is marked finishing
    # and that is published; a duplicate delivery that stops below only wasted a little CPU.
    started = storage.derivatives_start(status.outputs)
    with transaction.atomic():
        generation = _locked(generation_id)
        if generation is None:
            return
        now = timezone.now()
        # A finisher that died (its lease gone with its connection) or is long overdue is taken over.
        stale = generation.status == Status.FINISHING and (
            now - generation.finishing_at > FINISHING_STALE_AFTER or leases.lease_abandoned(generation_id)
        )
        if generation.status not in (Status.DISPATCHED, Status.RUNNING) and not stale:
            return  # canceled meanwhile, or another delivery is finishing it
        if generation.status == Status.DISPATCHED:
            generation.start()
            generation.started_at = now
        if generation.status == Status.RUNNING:
            generation.begin_finishing()
        generation.finishing_at = now
        generation.progress = 0.99
        generation.predict_seconds = status.predict_seconds
        generation.timing_mark("provider_end", now)
        if status.seed:
            generation.seed = status.seed[:40]  # the seed the provider says it used, so results can be redone
        _save(generation, "started_at", "finishing_at", "progress", "predict_seconds", "seed", "timings")
        if len(started) < len(status.outputs):
            # Outputs still to download (or a clip to decode) can take a while: say so. Images
            # already in hand are done in a few tens of milliseconds, before the event would show.
            _publish(generation)
    try:
        storage.generation_outputs_store(generation=generation, outputs=status.outputs, started=started)
    except storage.InvalidOutputError as error:
        logger.warning("output rejected", extra={"generation": str(generation_id), "reason": str(error)})
        generation_reroute(generation_id=generation_id)
        return
    stored_timings = generation.timings  # with derivatives_done and outputs_stored
    with transaction.atomic():
        generation = _locked(generation_id)
        if generation is None or generation.status != Status.FINISHING:
            return
        generation.succeed()
        generation.progress = 1.0
        generation.finished_at = timezone.now()
        generation.timings = {**stored_timings, **generation.timings}
        _save(generation, "progress", "finished_at", "timings")
        credits_services.credits_capture(generation=generation)
        _publish(generation)
        _announce_end(generation)


def generation_reroute(*, generation_id) -> None:
    """A route gave outputs that failed their checks: like a provider error, count it against the
    route and try the next one; with none left the job fails, uncharged."""
    with transaction.atomic():
        generation = _locked(generation_id)
        if generation is None or generation.status not in (Status.RUNNING, Status.FINISHING):
            return
        routes = generation.catalog_model.route_list
        failed = routes[generation.route_index] if generation.route_index < len(routes) else None
        if failed is not None:
            for key in failed.breaker_keys:
                breaker.breaker_record_failure(key)
        exhausted = generation.route_index + 1 >= len(routes)
        if not exhausted:
            generation.reroute()
            generation.route_index += 1
            generation.provider, generation.provider_job_id = "", ""
            generation.progress = 0
            _note(generation, SLOW_NOTE)
            _save(generation, "route_index", "provider", "provider_job_id", "progress", "notes")
            _publish(generation)
            transaction.on_commit(lambda: tasks.generation_run_task.delay(generation_id=str(generation_id)))
    if exhausted:
        generation_fail(generation_id=generation_id, code="invalid_output", message=ProviderError.default_message)


def _end(generation_id, *, transition: str, code: str, message: str) -> None:
    with transaction.atomic():
        generation = _locked(generation_id)
        if generation is None or generation.status not in ACTIVE:
            return
        getattr(generation, transition)()
        generation.error_code = code[:50]
        generation.error_message = message[:300]
        generation.finished_at = timezone.now()
        _save(generation, "error_code", "error_message", "finished_at")
        credits_services.credits_release(generation=generation)
        _publish(generation)
        _announce_end(generation)


def generation_fail(*, generation_id, code: str, message: str) -> None:
    """Fail and release the held credits. `message` is shown to the user."""
    _end(generation_id, transition="fail", code=code, message=message)


def generation_reject(*, generation_id, message: str) -> None:
    _end(generation_id, transition="reject", code="content_blocked", message=message)


def estimated_progress(*, elapsed: float, typical: float) -> float:
    """A provider that reports no progress gets a curve that nears, but never reaches, 95 %."""
    return 0.95 * (1 - math.exp(-max(elapsed, 0) / max(typical, 1)))


def generations_reap_stuck() -> dict:
    """Fail what passed its deadline, re-send what was queued but never picked up, and finish what
    a dead worker left half-saved."""
    now = timezone.now()
    expired = list(Generation.objects.filter(status__in=ACTIVE, deadline_at__lt=now).values_list("pk", "provider", "provider_job_id"))
    for generation_id, provider, job_id in expired:
        _cancel_at_provider(provider, job_id)
        generation_fail(generation_id=generation_id, code="timeout", message=TIMEOUT_MESSAGE)
    # Queued, running or half-saved jobs no live worker holds: sent again (see recovery.py).
    redriven = recovery.generations_redrive_stuck(now=now)
    return {"failed": len(expired), "redriven": redriven}
