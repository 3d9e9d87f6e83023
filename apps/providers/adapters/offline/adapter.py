"""Darkroom's offline engine, an adapter like any other: it renders inside the worker."""

import io
import random
import time

from django.conf import settings
from PIL import Image

from apps.imaging import operations
from apps.providers.exceptions import ProviderError, ProviderRejectedError
from apps.providers.registry import adapter_registry
from apps.providers.retry import RetryPolicy
from apps.providers.types import (
    CancelCheck,
    GenerationRequest,
    JobState,
    ProgressCallback,
    ProviderOutput,
    ProviderStatus,
)

from . import face_swap, motion, renderer

STYLES = {"procedural-sketch-v1": "sketch", "procedural-studio-v1": "studio", "procedural-edit-v1": "studio"}
# Edits that are classical image operations rather than drawing.
OPERATIONS = {"upscale-lanczos-v1", "cutout-grabcut-v1"}
# Clips made from a photo by camera moves.
MOTION = {"motion-kenburns-v1"}
DEFAULT_CLIP_SECONDS = 4


class OfflineEngineFailure(ProviderError):
    code = "engine_failure"
    default_message = "The offline engine failed while drawing this image. You were not charged."


@adapter_registry.register("offline")
class OfflineEngineAdapter:
    key = "offline"
    blocking = True
    retry_policy = RetryPolicy(attempts=1)

    @classmethod
    def is_configured(cls) -> bool:
        return True

    def run(
        self, request: GenerationRequest, *, on_progress: ProgressCallback, is_canceled: CancelCheck
    ) -> ProviderStatus:
        if request.provider_model == face_swap.MODEL:
            return face_swap.run(request, on_progress=on_progress)
        if request.provider_model in OPERATIONS:
            return _operate(request, on_progress=on_progress)
        if request.provider_model in MOTION:
            return _animate(request, on_progress=on_progress, is_canceled=is_canceled)
        style = STYLES.get(request.provider_model, "sketch")
        photo = _open(request.image) if request.image else None
        mask = _open(request.mask).convert("L").resize((request.width, request.height)) if request.mask else None
        palette = renderer.palette_from([_open(ref) for ref in request.references]) if request.references else None
        steps = max(1, settings.OFFLINE_ENGINE_STEPS)
        delay = settings.OFFLINE_ENGINE_STEP_DELAY_MS / 1000
        # Injected failures strike midway, so a demo shows progress before the error.
        fail_at = steps // 2 if random.random() < settings.OFFLINE_ENGINE_FAILURE_RATE else None
        seed = int(request.seed or 0)
        total = steps * request.num_images
        started = time.monotonic()
        outputs = []
        for index in range(request.num_images):
            canvas = None
            for step, canvas in enumerate(
                renderer.render_steps(
                    prompt=request.prompt, negative_prompt=request.negative_prompt, seed=seed + index,
                    width=request.width, height=request.height, style=style, steps=steps, palette=palette,
                )
            ):
                if is_canceled():
                    return ProviderStatus(state=JobState.CANCELED)
                if fail_at is not None and index == 0 and step == fail_at:
                    raise OfflineEngineFailure()
                done = (index * steps + step + 1) / total
                if done < 1:
                    on_progress(
                        ProviderStatus(
                            state=JobState.RUNNING, progress=done,
                            preview=renderer.preview_bytes(canvas, progress=done),
                        )
                    )
                if delay:
                    time.sleep(delay)
            if photo is not None:
                canvas = _apply_to_photo(canvas, photo, mask=mask, strength=request.strength)
            outputs.append(ProviderOutput(content=renderer.png_bytes(canvas), content_type="image/png"))
        return ProviderStatus(
            state=JobState.SUCCEEDED, progress=1.0, outputs=tuple(outputs),
            predict_seconds=time.monotonic() - started,
        )


def _open(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


def _apply_to_photo(drawing: Image.Image, photo: Image.Image, *, mask: Image.Image | None,
                    strength: float | None) -> Image.Image:
    """Inpaint: the drawing shows through the mask's white. Image-to-image: a blend by strength."""
    base = photo.convert("RGB").resize(drawing.size)
    if mask is not None:
        return Image.composite(drawing, base, mask)
    return Image.blend(base, drawing, strength if strength is not None else 0.5)


def _operate(request: GenerationRequest, *, on_progress: ProgressCallback) -> ProviderStatus:
    started = time.monotonic()
    photo = _open(request.image)
    on_progress(ProviderStatus(state=JobState.RUNNING, progress=0.3))
    if random.random() < settings.OFFLINE_ENGINE_FAILURE_RATE:
        raise OfflineEngineFailure()
    if request.provider_model == "upscale-lanczos-v1":
        result = operations.upscale(photo, factor=max(1, round(request.width / photo.width)))
    else:
        result = operations.remove_background_grabcut(photo)
    return ProviderStatus(
        state=JobState.SUCCEEDED, progress=1.0, predict_seconds=time.monotonic() - started,
        outputs=(ProviderOutput(content=renderer.png_bytes(result), content_type="image/png"),),
    )


def _animate(request: GenerationRequest, *, on_progress: ProgressCallback, is_canceled: CancelCheck) -> ProviderStatus:
    """An H.264 clip from the photo, with progress and a preview frame per batch of frames."""
    started = time.monotonic()
    if request.image is None:
        raise ProviderRejectedError("This model needs a photo to start from. You were not charged.")
    photo = _open(request.image)
    seconds = request.duration_seconds or DEFAULT_CLIP_SECONDS
    fail_at = 0.5 if random.random() < settings.OFFLINE_ENGINE_FAILURE_RATE else None
    canceled = False

    def on_batch(done: int, total: int, frame: Image.Image) -> bool:
        nonlocal canceled
        if is_canceled():
            canceled = True
            return False
        if fail_at is not None and done / total >= fail_at:
            raise OfflineEngineFailure()
        if done < total:
            # The last few percent are the encoder's flush and the upload.
            on_progress(ProviderStatus(state=JobState.RUNNING, progress=0.95 * done / total,
                                       preview=motion.preview_jpeg(frame)))
        return True

    content = motion.encode_mp4(
        photo, width=request.width, height=request.height, seconds=seconds,
        fps=settings.OFFLINE_MOTION_FPS, seed=int(request.seed or 0), on_batch=on_batch,
    )
    if canceled or content is None:
        return ProviderStatus(state=JobState.CANCELED)
    return ProviderStatus(
        state=JobState.SUCCEEDED, progress=1.0, predict_seconds=time.monotonic() - started,
        outputs=(ProviderOutput(content=content, content_type="video/mp4"),),
    )
