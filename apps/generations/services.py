"""Every write to a generation: create, run, progress, finish, fail, cancel, reap.

Each service locks the row, checks the state it expects and returns quietly if another
process got there first, so tasks and retries can call them twice.
"""

import base64
import logging
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from apps.catalog.models import CatalogModel, dimensions_for
from apps.catalog.selectors import catalog_model_availability
from apps.core.exceptions import NotFoundError
from apps.credits import selectors as credits_selectors
from apps.credits import services as credits_services
from apps.providers.exceptions import ProviderBlockedError, ProviderError
from apps.providers.registry import adapter_get
from apps.providers.types import GenerationRequest, JobState, ProviderStatus
from apps.realtime.publish import publish_to_user

from . import storage, tasks
from .exceptions import InvalidGenerationError, ModelUnavailableError, NotCancelableError
from .models import ACTIVE, Generation, Status

logger = logging.getLogger(__name__)

MAX_PROMPT_LENGTH = 2000
MAX_SEED = 2**64 - 1
INTERNAL_ERROR_MESSAGE = "Something went wrong on our side while making this image. You were not charged."
TIMEOUT_MESSAGE = "This took too long and was stopped. You were not charged."
UNAVAILABLE_MESSAGE = "This model is not available right now. You were not charged."
# A queued generation with no worker on it after this long had its enqueue lost: send it again.
REDRIVE_AFTER = timedelta(minutes=2)


# ---------------------------------------------------------------- quote and validation


def generation_quote(*, catalog_model: CatalogModel, tier: str | None, num_images: int) -> int:
    chosen = catalog_model.tier(tier)
    if chosen is None:
        raise InvalidGenerationError("Choose one of the sizes this model offers.", extra={"field": "tier"})
    return chosen["price"] * num_images


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
    chosen_tier = catalog_model.tier(tier)
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
    html = _card_html(generation, preview=preview)
    if generation.status == Status.QUEUED or not generation.is_active:
        # Credits moved (held on submit, charged or returned at the end): refresh the header too.
        balance = credits_selectors.credits_balance_get(user=generation.owner_id)
        html += render_to_string("_balance.html", {"credit_balance": balance, "oob": True})
    publish_to_user(
        user_id=generation.owner_id, event=event, data=generation_event_data(generation), html=html,
    )


def _save(generation: Generation, *fields: str) -> None:
    generation.revision += 1
    generation.save(update_fields=[*fields, "status", "revision", "updated_at"])


def _locked(generation_id) -> Generation | None:
    return Generation.objects.select_for_update().select_related("catalog_model").filter(pk=generation_id).first()


# ---------------------------------------------------------------- create and cancel


def generation_create(
    *, user, model_slug: str, prompt: str, negative_prompt: str = "", aspect_ratio: str | None = None,
    tier: str | None = None, num_images: int = 1, seed: str | int | None = None,
) -> Generation:
    """Validate, quote, reserve the quote and queue the work — or raise before anything happens."""
    catalog_model = CatalogModel.objects.filter(slug=model_slug).first()
    if catalog_model is None:
        raise InvalidGenerationError("Choose a model from the catalogue.", extra={"field": "model"})
    availability = catalog_model_availability(catalog_model)
    if not availability.available:
        raise ModelUnavailableError(f"{catalog_model.label} is unavailable: {availability.reason}")
    params = _validated_params(
        catalog_model=catalog_model, prompt=prompt, negative_prompt=negative_prompt,
        aspect_ratio=aspect_ratio, tier=tier, num_images=num_images, seed=seed,
    )
    price = generation_quote(catalog_model=catalog_model, tier=params["tier"], num_images=num_images)
    with transaction.atomic():
        generation = Generation.objects.create(
            owner=user, catalog_model=catalog_model, prompt=prompt.strip(),
            negative_prompt=negative_prompt.strip(), seed=params.pop("seed"), params=params,
            quoted_credits=price,
        )
        credits_services.credits_reserve(generation=generation, amount=price)
        transaction.on_commit(lambda: tasks.generation_run_task.delay(generation_id=str(generation.id)))
        _publish(generation)
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
    return generation


# ---------------------------------------------------------------- running


def _provider_request(generation: Generation) -> GenerationRequest:
    return GenerationRequest(
        job_id=str(generation.id), provider_model=generation.catalog_model.provider_model,
        prompt=generation.prompt, negative_prompt=generation.negative_prompt, width=generation.width,
        height=generation.height, num_images=generation.num_images, seed=generation.seed,
    )


def _generation_start(generation_id) -> Generation | None:
    """Claim the job for this worker. A redelivered task finds it running and starts it again."""
    with transaction.atomic():
        generation = _locked(generation_id)
        if generation is None or generation.status not in (Status.QUEUED, Status.DISPATCHED, Status.RUNNING):
            return None
        now = timezone.now()
        if generation.status == Status.QUEUED:
            generation.dispatch()
            generation.dispatched_at = now
        if generation.status == Status.DISPATCHED:
            generation.start()
            generation.started_at = now
        _save(generation, "dispatched_at", "started_at")
        _publish(generation)
    return generation


def generation_run(*, generation_id) -> None:
    generation = _generation_start(generation_id)
    if generation is None:
        return
    adapter = adapter_get(generation.catalog_model.adapter)
    if not adapter.runs_locally:
        # Hosted providers are tracked by submit, webhooks and polling; none is wired up yet.
        generation_fail(generation_id=generation_id, code="model_unavailable", message=UNAVAILABLE_MESSAGE)
        return
    try:
        result = adapter.run(
            _provider_request(generation),
            on_progress=lambda status: generation_apply_progress(generation_id=generation_id, status=status),
            is_canceled=lambda: Generation.objects.filter(pk=generation_id, status=Status.CANCELED).exists(),
        )
    except ProviderBlockedError as error:
        generation_reject(generation_id=generation_id, message=error.message)
        return
    except ProviderError as error:
        generation_fail(generation_id=generation_id, code=error.code, message=error.message)
        return
    generation_apply_result(generation_id=generation_id, status=result)


def generation_apply_progress(*, generation_id, status: ProviderStatus) -> None:
    """Progress and a preview while running. Cheap: one conditional update, no lock."""
    progress = min(max(status.progress or 0.0, 0.0), 0.99)
    updated = Generation.objects.filter(pk=generation_id, status=Status.RUNNING, progress__lte=progress).update(
        progress=progress, revision=F("revision") + 1, updated_at=timezone.now()
    )
    if updated:
        generation = Generation.objects.select_related("catalog_model").get(pk=generation_id)
        _publish(generation, preview=status.preview)


def generation_apply_result(*, generation_id, status: ProviderStatus) -> None:
    """Apply a provider's terminal status, exactly once whoever reports it first."""
    if status.state == JobState.SUCCEEDED:
        generation_finish(generation_id=generation_id, status=status)
    elif status.state == JobState.BLOCKED:
        generation_reject(generation_id=generation_id, message=ProviderBlockedError.default_message)
    elif status.state == JobState.FAILED:
        generation_fail(generation_id=generation_id, code=status.error_code or "provider_error",
                        message=ProviderError.default_message)
    elif status.state == JobState.CANCELED:
        generation_fail(generation_id=generation_id, code="provider_canceled", message=ProviderError.default_message)


def generation_finish(*, generation_id, status: ProviderStatus) -> None:
    with transaction.atomic():
        generation = _locked(generation_id)
        if generation is None or generation.status not in (Status.RUNNING, Status.FINISHING):
            return  # canceled meanwhile, or already finished by another delivery
        if generation.status == Status.RUNNING:
            generation.begin_finishing()
            generation.finishing_at = timezone.now()
            generation.progress = 0.99
            generation.predict_seconds = status.predict_seconds
            _save(generation, "finishing_at", "progress", "predict_seconds")
            _publish(generation)
    try:
        storage.generation_outputs_store(generation=generation, outputs=status.outputs)
    except storage.InvalidOutputError as error:
        logger.warning("output rejected", extra={"generation": str(generation_id), "reason": str(error)})
        generation_fail(generation_id=generation_id, code="invalid_output", message=ProviderError.default_message)
        return
    with transaction.atomic():
        generation = _locked(generation_id)
        if generation is None or generation.status != Status.FINISHING:
            return
        generation.succeed()
        generation.progress = 1.0
        generation.finished_at = timezone.now()
        _save(generation, "progress", "finished_at")
        credits_services.credits_capture(generation=generation)
        _publish(generation)


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


def generation_fail(*, generation_id, code: str, message: str) -> None:
    """Fail and release the held credits. `message` is shown to the user."""
    _end(generation_id, transition="fail", code=code, message=message)


def generation_reject(*, generation_id, message: str) -> None:
    _end(generation_id, transition="reject", code="content_blocked", message=message)


def generations_reap_stuck() -> dict:
    """Fail what passed its deadline and re-send what was queued but never picked up."""
    now = timezone.now()
    deadline = now - timedelta(seconds=settings.GENERATION_DEADLINE_SECONDS)
    expired = list(Generation.objects.filter(status__in=ACTIVE, created_at__lt=deadline).values_list("pk", flat=True))
    for generation_id in expired:
        generation_fail(generation_id=generation_id, code="timeout", message=TIMEOUT_MESSAGE)
    stale = list(
        Generation.objects.filter(status=Status.QUEUED, created_at__lt=now - REDRIVE_AFTER, created_at__gte=deadline)
        .values_list("pk", flat=True)
    )
    for generation_id in stale:
        tasks.generation_run_task.delay(generation_id=str(generation_id))
    return {"failed": len(expired), "redriven": len(stale)}
