"""OpenAI Images requests → Darkroom generations, run to the end, answered as OpenAI answers.

A request names an OpenAI model (or a Darkroom catalogue slug), a size and a count; it becomes one
generation through `generation_create` (validated, priced and reserved like any other), and the
answer waits until that generation ends — a worker runs it, or in tests eager Celery at commit —
bounded by the model's deadline.
"""

import base64
import io
import math
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from apps.catalog.auto import AUTO_MODEL
from apps.catalog.models import CatalogModel, nearest_aspect_ratio
from apps.catalog.selectors import catalog_model_availability
from apps.core import events
from apps.generations import services as generation_services
from apps.generations import waiting
from apps.generations.exceptions import NotCancelableError
from apps.generations.models import TERMINAL, Generation, Status
from apps.media import services as media_services
from apps.media.models import Kind
from apps.media.storage import file_read

from .errors import OpenAIError
from .models import ImageStream

# OpenAI model names → a catalogue slug, or "" for the default model (see `model_resolve`).
ALIASES = {
    "gpt-image-1": "gpt-image-1", "gpt-image-1-mini": "gpt-image-1", "gpt-image-1.5": "gpt-image-1",
    "gpt-image-2": "gpt-image-1", "chatgpt-image-latest": "gpt-image-1",
    "dall-e-2": "", "dall-e-3": "",
}
# GPT image models answer base64 unless asked; DALL·E answers URLs.
B64_BY_DEFAULT = ("gpt-image", "chatgpt-image")
EDIT_CAPABILITIES = ("image-to-image", "inpaint")
GRACE_SECONDS = 10  # past the model's deadline, before giving up waiting


@dataclass(frozen=True)
class Shape:
    aspect_ratio: str | None
    tier: str | None


def _default_model(*, edit: bool) -> CatalogModel | None:
    if slug := (settings.OPENAI_COMPAT_EDIT_MODEL if edit else settings.OPENAI_COMPAT_DEFAULT_MODEL):
        return CatalogModel.objects.filter(slug=slug).first()
    wanted = EDIT_CAPABILITIES if edit else ("text-to-image",)
    candidates = [
        model for model in CatalogModel.objects.filter(kind=CatalogModel.Kind.IMAGE)
        if any(model.can(c) for c in wanted) and catalog_model_availability(model).available
    ]
    # Prefer a real model over the offline engine when one is configured.
    hosted = [m for m in candidates if any(r.provider != "offline" for r in m.route_list)]
    return (hosted or candidates or [None])[0]


def model_resolve(name: str | None, *, edit: bool = False) -> CatalogModel:
    """A catalogue slug, an OpenAI alias, or nothing (the default model)."""
    name = (name or "").strip()
    model = CatalogModel.objects.filter(slug=name).first() if name else None
    if model is None and (not name or name in ALIASES):
        slug = ALIASES.get(name, "")
        model = CatalogModel.objects.filter(slug=slug).first() if slug else _default_model(edit=edit)
    if model is None:
        raise OpenAIError(f"The model `{name}` does not exist or you do not have access to it.", status=404,
                          code="model_not_found", param="model")
    if edit and not any(model.can(c) for c in EDIT_CAPABILITIES):
        raise OpenAIError(f"The model `{name or model.slug}` does not edit images.", code="invalid_value",
                          param="model")
    return model


def shape_for(model: CatalogModel, *, size: str | None, quality: str | None) -> Shape:
    """`size` (WxH) → the model's nearest aspect ratio and the tier nearest in pixel count;
    `quality` picks the largest (high, hd) or smallest (low) tier when the size is auto."""
    tiers = model.tiers or []
    if size in (None, "", "auto"):
        if quality in ("high", "hd") and tiers:
            return Shape(None, max(tiers, key=lambda t: t["area"])["key"])
        if quality == "low" and tiers:
            return Shape(None, min(tiers, key=lambda t: t["area"])["key"])
        return Shape(None, None)
    width, _, height = size.lower().partition("x")
    if not (is_whole_number(width) and is_whole_number(height)) or not (
        16 <= int(width) <= 8192 and 16 <= int(height) <= 8192
    ):
        raise OpenAIError(f"Invalid size '{size}'. Use WIDTHxHEIGHT, e.g. 1024x1024, or auto.", code="invalid_value",
                          param="size")
    area = int(width) * int(height)
    ratio = nearest_aspect_ratio(f"{width}:{height}", model.aspect_ratios or ["1:1"])
    tier = min(tiers, key=lambda t: abs(math.log(t["area"] / area)))["key"] if tiers else None
    return Shape(ratio, tier)


def is_whole_number(text: str) -> bool:
    """ASCII digits only: `str.isdigit` also takes "²" and other characters `int` refuses."""
    return text.isascii() and text.isdigit() and len(text) <= 9


def text_is_storable(text: str) -> bool:
    """PostgreSQL text holds no NUL, and UTF-8 no unpaired surrogate (JSON can carry both)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def wants_b64(*, requested_model: str | None, response_format: str | None) -> bool:
    if response_format:
        return response_format == "b64_json"
    return (requested_model or "").startswith(B64_BY_DEFAULT)


def generation_check(*, generation_id) -> Generation | None:
    """The generation once it has ended, else None. Past its deadline it is canceled and refunded,
    and this raises the 504 OpenAI clients get for a timeout."""
    generation = Generation.objects.select_related("catalog_model").get(pk=generation_id)
    if generation.status in TERMINAL:
        return generation
    deadline = generation.deadline_at.timestamp() + GRACE_SECONDS if generation.deadline_at else None
    if deadline is None or time.time() <= deadline:
        return None
    try:
        generation_services.generation_cancel(user=generation.owner, generation_id=generation.id)
    except NotCancelableError:
        pass  # it ended meanwhile: read it again
    generation = Generation.objects.select_related("catalog_model").get(pk=generation_id)
    if generation.status in TERMINAL and generation.status != Status.CANCELED:
        return generation
    raise OpenAIError("The image took too long to make and was stopped. You were not charged.", status=504,
                      code="timeout", type="server_error")


async def generation_finished(*, generation_id) -> Generation:
    """The generation once it has ended (or its deadline passed: canceled, refunded, 504), awaited
    on its end's notice with no thread held; the row is re-read every
    `OPENAI_COMPAT_WAIT_RECHECK_SECONDS` as well, in case a notice is lost."""
    return await waiting.generation_await(
        generation_id=generation_id, check=lambda: generation_check(generation_id=generation_id),
        fallback_seconds=settings.OPENAI_COMPAT_WAIT_RECHECK_SECONDS,
    )


def generation_wait(*, generation_id, poll_seconds: float | None = None) -> Generation:
    """Block until the generation ends (or its deadline passes, when it is canceled and refunded).
    For callers that must block (a sync caller); requests await `generation_finished`."""
    poll = poll_seconds if poll_seconds is not None else settings.OPENAI_COMPAT_POLL_SECONDS
    while (generation := generation_check(generation_id=generation_id)) is None:
        time.sleep(poll)
    return generation


def images_response(generation: Generation, *, b64: bool) -> dict:
    """The generation as an `ImagesResponse`, or the error it ended with."""
    if generation.status == Status.REJECTED:
        raise OpenAIError(generation.error_message or "Your request was rejected by the safety system.",
                          code="moderation_blocked", type="image_generation_user_error")
    if generation.status != Status.SUCCEEDED:
        message = generation.error_message or "The image could not be made. You were not charged."
        raise OpenAIError(message, status=500, code=generation.error_code or generation.status, type="server_error")
    from apps.core.files import signed_file_url

    images = list(generation.images.order_by("index"))
    data = [
        {"b64_json": base64.b64encode(file_read(image.file)).decode()} if b64
        else {"url": signed_file_url(image.file, absolute=True)}
        for image in images
    ]
    first = images[0] if images else None
    return {
        "created": int(generation.created_at.timestamp()),
        "data": data,
        "output_format": (first.file.rsplit(".", 1)[-1].lower().replace("jpg", "jpeg") if first else "png"),
        "size": f"{first.width}x{first.height}" if first else f"{generation.width}x{generation.height}",
    }


def _auto_shape(size: str | None, quality: str | None) -> tuple[str | None, str]:
    """`model: "auto"`: the size as a ratio (the chosen model's nearest is used) and the quality as
    the budget (low → economy, high/hd → best)."""
    ratio = None
    if size not in (None, "", "auto"):
        width, _, height = size.lower().partition("x")
        if not (is_whole_number(width) and is_whole_number(height) and int(width) and int(height)):
            raise OpenAIError(f"Invalid size '{size}'. Use WIDTHxHEIGHT, e.g. 1024x1024, or auto.",
                              code="invalid_value", param="size")
        ratio = f"{width}:{height}"
    return ratio, {"low": "economy", "high": "best", "hd": "best"}.get(quality or "", "balanced")


def generate(*, user, prompt: str, model: str | None, n: int, size: str | None, quality: str | None) -> Generation:
    if (model or "").strip() == AUTO_MODEL:
        ratio, budget = _auto_shape(size, quality)
        return generation_services.generation_create(user=user, model_slug=AUTO_MODEL, prompt=prompt,
                                                     aspect_ratio=ratio, tier=budget, num_images=n)
    catalog_model = model_resolve(model)
    shape = shape_for(catalog_model, size=size, quality=quality)
    return generation_services.generation_create(
        user=user, model_slug=catalog_model.slug, prompt=prompt, aspect_ratio=shape.aspect_ratio, tier=shape.tier,
        num_images=n,
    )


def _openai_mask(content: bytes) -> bytes:
    """OpenAI masks are transparent where the image should change; Darkroom's are white there."""
    try:
        mask = Image.open(io.BytesIO(content))
        mask.load()
    except (UnidentifiedImageError, OSError):
        raise OpenAIError("The mask is not an image Darkroom can read.", code="invalid_image", param="mask") from None
    if "A" not in mask.getbands() and not (mask.mode == "P" and "transparency" in mask.info):
        return content  # already white-is-edited greyscale
    alpha = mask.convert("RGBA").getchannel("A")
    out = io.BytesIO()
    alpha.point(lambda a: 255 if a < 128 else 0).convert("L").save(out, format="PNG")
    return out.getvalue()


def edit(*, user, prompt: str, model: str | None, n: int, size: str | None, quality: str | None,
         images: list[tuple[str, bytes]], mask: tuple[str, bytes] | None) -> Generation:
    """Store the image(s) and mask as uploads, then generate from them."""
    catalog_model = model_resolve(model, edit=True)
    if not images:
        raise OpenAIError("Send the image to edit as the `image` file.", code="missing_required_parameter",
                          param="image")
    if len(images) > 1 and not catalog_model.can("reference"):
        raise OpenAIError(f"{catalog_model.label} edits one image at a time.", code="invalid_value", param="image")
    if mask is not None and not catalog_model.can("inpaint"):
        raise OpenAIError(f"{catalog_model.label} does not take a mask.", code="invalid_value", param="mask")
    (name, content), *others = images
    photo = media_services.upload_create(user=user, content=content, kind=Kind.PHOTO, filename=name)
    references = [
        media_services.upload_create(user=user, content=other, kind=Kind.REFERENCE, filename=other_name).id
        for other_name, other in others
    ]
    mask_upload = None
    if mask is not None:
        mask_upload = media_services.upload_create(
            user=user, content=_openai_mask(mask[1]), kind=Kind.MASK, filename=mask[0], photo_id=photo.id,
        )
    shape = shape_for(catalog_model, size=size, quality=quality)
    # The picture's own shape wins over `size` for edits: only the size tier is taken from it.
    return generation_services.generation_create(
        user=user, model_slug=catalog_model.slug, prompt=prompt, tier=shape.tier,
        num_images=n, image_upload_id=photo.id, mask_upload_id=mask_upload.id if mask_upload else None,
        reference_upload_ids=references,
    )


# ---------------------------------------------------------------- streaming (stream: true)

MAX_PARTIAL_IMAGES = 3
# A stream's row outlives its request only if the server died mid-stream: forget such rows.
STREAM_ROW_LIFETIME = timedelta(hours=1)


def stream_open(*, generation: Generation, partial_images: int) -> None:
    """Keep up to `partial_images` of the generation's previews for its stream. Call in the
    transaction that creates the generation, so the row exists before any worker runs it."""
    ImageStream.objects.filter(created_at__lt=timezone.now() - STREAM_ROW_LIFETIME).delete()
    if partial_images > 0:
        ImageStream.objects.create(generation=generation, partial_images=partial_images)


def stream_preview_keep(event: events.GenerationProgressed) -> None:
    """A `GenerationProgressed` subscriber: partial k of n is the first preview at or past
    (k + 1) / (n + 1) of the progress, so partials spread from blurred to sharp."""
    if not ImageStream.objects.filter(pk=event.generation_id).exists():
        return  # nobody streams this generation (most of them): no lock, no transaction
    with transaction.atomic():
        stream = ImageStream.objects.select_for_update().filter(pk=event.generation_id).first()
        if stream is None:
            return
        kept = len(stream.partials)
        if kept >= stream.partial_images or event.progress < (kept + 1) / (stream.partial_images + 1):
            return
        stream.partials.append(base64.b64encode(event.preview).decode())
        stream.save(update_fields=["partials"])


def stream_partials(*, generation_id, after: int) -> list[str]:
    """The partial images (base64) kept after the first `after`."""
    partials = ImageStream.objects.filter(pk=generation_id).values_list("partials", flat=True).first()
    return (partials or [])[after:]


def stream_close(*, generation_id) -> None:
    ImageStream.objects.filter(pk=generation_id).delete()
