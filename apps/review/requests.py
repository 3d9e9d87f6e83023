"""From a generation to what the judges are given: its task kind and, for edits, the source photo
and mask (read through media's owner-scoped selector)."""

import io

from PIL import Image

from apps.media import selectors as media_selectors
from apps.media.storage import file_read

from .contract import ReviewRequest, TaskKind


def task_kind(generation) -> TaskKind:
    model = generation.catalog_model
    inputs = (generation.params or {}).get("inputs") or {}
    if model.kind == "video":
        return TaskKind.VIDEO_FRAME
    if not inputs.get("image"):
        return TaskKind.TEXT_TO_IMAGE
    if model.can("upscale"):
        return TaskKind.UPSCALE
    if model.can("remove-background"):
        return TaskKind.REMOVE_BACKGROUND
    if inputs.get("mask"):
        return TaskKind.INPAINT
    return TaskKind.EDIT


def image_open(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    return image


def _upload_image(generation, upload_id) -> Image.Image | None:
    if not upload_id:
        return None
    upload = media_selectors.upload_get_for_user(user=generation.owner, upload_id=upload_id)
    return image_open(file_read(upload.file))


def review_request(generation, *, with_sources: bool = True) -> ReviewRequest:
    task = task_kind(generation)
    inputs = (generation.params or {}).get("inputs") or {}
    needs_sources = with_sources and task in (TaskKind.INPAINT, TaskKind.UPSCALE, TaskKind.REMOVE_BACKGROUND)
    return ReviewRequest(
        prompt=generation.prompt, task=task,
        source=_upload_image(generation, inputs.get("image")) if needs_sources else None,
        mask=_upload_image(generation, inputs.get("mask")) if needs_sources else None,
        expected_size=(generation.width, generation.height) if generation.width else None,
    )
