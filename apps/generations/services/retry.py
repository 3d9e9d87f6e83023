"""Trying a failed generation again: the same request, submitted anew through `generation_create`
(validated, quoted, reserved and queued like any other), the failed one left as it was."""

from ..exceptions import NotRetryableError
from ..models import Generation, Status
from ..selectors import generation_get_for_user
from .submit import generation_create

RETRYABLE = {Status.FAILED}


def generation_retry_arguments(generation: Generation) -> dict:
    """The `generation_create` arguments that ask for what `generation` asked for."""
    params, model = generation.params, generation.catalog_model
    inputs = params.get("inputs") or {}
    arguments = {
        "model_slug": model.slug, "prompt": generation.prompt, "negative_prompt": generation.negative_prompt,
        "tier": params.get("tier"), "num_images": params.get("num_images", 1),
        "duration_seconds": params.get("duration_seconds"),
    }
    if model.supports_seed and generation.seed:
        arguments["seed"] = generation.seed
    if inputs:
        # An edit takes its shape from the photo again; its ratio was derived, not chosen.
        arguments.update(image_upload_id=inputs.get("image"), mask_upload_id=inputs.get("mask"),
                         reference_upload_ids=tuple(inputs.get("references") or ()))
    else:
        arguments["aspect_ratio"] = params.get("aspect_ratio")
    return arguments


def generation_retry(*, user, generation_id) -> Generation:
    """A new generation with the failed one's parameters; the price is quoted afresh."""
    failed = generation_get_for_user(user=user, generation_id=generation_id)
    if failed.status not in RETRYABLE:
        raise NotRetryableError()
    return generation_create(user=user, **generation_retry_arguments(failed))
