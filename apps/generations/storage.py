"""Checking and storing a generation's outputs: the original, a WebP preview and thumbnail, a
BlurHash placeholder and a content hash. A video output is decoded whole before it is kept; its
first frame (the poster) gives the preview, thumbnail and placeholder."""

import hashlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from PIL import Image

from apps.imaging import video
from apps.imaging.checks import blank_problem, shape_problem
from apps.imaging.decoding import image_decode
from apps.imaging.derivatives import Derivatives, derivatives_make
from apps.imaging.exceptions import ImagingError
from apps.media.storage import file_write
from apps.providers.fetch import FetchError, fetch_output
from apps.providers.types import ProviderOutput

from .models import Generation, GenerationImage

EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
# A clip may be this much shorter or longer than asked (providers round to their own frame grid).
DURATION_TOLERANCE = 0.25


class InvalidOutputError(Exception):
    pass


_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def _derivatives_pool() -> ThreadPoolExecutor:
    """One small pool per process (made after a worker forks): derivatives run beside the checks
    and the saves of the same job, and may start before the job is even marked finishing."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool, _pool_pid = ThreadPoolExecutor(max_workers=2, thread_name_prefix="derivatives"), os.getpid()
        return _pool


def _derivatives_submit(content: bytes) -> Future | None:
    """Derivatives of an image's bytes, made in the pool (oversize bytes are refused later instead)."""
    if len(content) > settings.PROVIDER_FETCH_MAX_BYTES:
        return None
    return _derivatives_pool().submit(derivatives_make, content)


def derivatives_start(outputs: tuple[ProviderOutput, ...]) -> dict[int, Future]:
    """Start making the derivatives of the outputs whose image bytes are already here (a provider
    that answers with bytes, not URLs), by output index: generation_outputs_store picks them up."""
    started = {
        index: _derivatives_submit(output.content)
        for index, output in enumerate(outputs)
        if output.content is not None and not video.is_video(output.content)
    }
    return {index: future for index, future in started.items() if future is not None}


def output_check(image: Image.Image, *, generation: Generation, input_sha256: str | None, sha256: str | None) -> None:
    """An output is refused if it is blank, uniform, black, the wrong shape, or the input again."""
    problem = shape_problem(image.size, (generation.width, generation.height),
                            max_ratio_drift=settings.OUTPUT_MAX_RATIO_DRIFT)
    problem = problem or blank_problem(image, min_stddev=settings.OUTPUT_MIN_STDDEV,
                                       min_mean=settings.OUTPUT_MIN_MEAN)
    if problem:
        raise InvalidOutputError(problem)
    if input_sha256 and sha256 == input_sha256:
        raise InvalidOutputError("output is the input image unchanged")


def _content(output: ProviderOutput, *, provider: str) -> bytes:
    if output.content is not None:
        return output.content
    try:
        content, _ = fetch_output(output.url or "", provider=provider)
    except FetchError as error:
        raise InvalidOutputError(str(error)) from None
    return content


@dataclass(frozen=True)
class CheckedOutput:
    content: bytes
    extension: str
    content_type: str
    # An image's derivatives may still be in the making (see _check_image): read them with derived().
    derivatives: Derivatives | Future
    sha256: str | None = None
    duration_seconds: float | None = None

    def derived(self) -> Derivatives:
        if isinstance(self.derivatives, Derivatives):
            return self.derivatives
        try:
            return self.derivatives.result()
        except ImagingError as error:
            raise InvalidOutputError(f"output does not decode: {error.code}") from None


def _is_video_generation(generation: Generation) -> bool:
    return generation.catalog_model.kind == "video"


def _check_image(content: bytes, *, generation: Generation, input_sha256: str | None,
                 pending: Future | None = None) -> CheckedOutput:
    """Validate and check the image here while its derivatives are made in the pool: both decode
    the bytes, and the decoders and WebP encoders release the GIL, so they overlap on a second
    core. Derivatives expect validated bytes; they refuse too many pixels before decoding, and
    whatever they make of an output that fails here is dropped."""
    if pending is None:
        pending = _derivatives_submit(content)
    try:
        image = image_decode(content, max_bytes=settings.PROVIDER_FETCH_MAX_BYTES,
                             max_pixels=settings.MEDIA_MAX_PIXELS)
    except ImagingError as error:
        raise InvalidOutputError(f"output does not decode: {error.code}") from None
    sha256 = hashlib.sha256(content).hexdigest() if input_sha256 else None
    output_check(image, generation=generation, input_sha256=input_sha256, sha256=sha256)
    return CheckedOutput(content=content, extension=EXTENSIONS[image.format], content_type=IMAGE_TYPES[image.format],
                         derivatives=pending, sha256=sha256)


def _check_video(content: bytes, *, generation: Generation) -> CheckedOutput:
    try:
        info = video.video_validate(content, max_bytes=settings.PROVIDER_FETCH_MAX_BYTES)
        derivatives = derivatives_make(video.poster_png(info))
    except ImagingError as error:
        raise InvalidOutputError(f"output does not decode: {error.code}") from None
    sha256 = hashlib.sha256(content).hexdigest()
    # The poster stands for the clip: a blank, black or misshapen first frame is refused too.
    output_check(info.poster, generation=generation, input_sha256=None, sha256=sha256)
    wanted = generation.params.get("duration_seconds")
    if wanted and abs(info.duration_seconds - wanted) > max(1.0, wanted * DURATION_TOLERANCE):
        raise InvalidOutputError(f"output is {info.duration_seconds:g} s long, expected {wanted} s")
    return CheckedOutput(content=content, extension=info.container, content_type=info.content_type,
                         derivatives=derivatives, sha256=sha256, duration_seconds=info.duration_seconds)


def output_checked(content: bytes, *, generation: Generation, input_sha256: str | None = None,
                   pending: Future | None = None) -> CheckedOutput:
    """An output of the kind the model makes, decoded and checked, or InvalidOutputError."""
    if _is_video_generation(generation):
        if not video.is_video(content):
            raise InvalidOutputError("output is not an MP4 or WebM video")
        return _check_video(content, generation=generation)
    if video.is_video(content):
        raise InvalidOutputError("output is a video, expected an image")
    return _check_image(content, generation=generation, input_sha256=input_sha256, pending=pending)


def generation_outputs_store(*, generation: Generation, outputs: tuple[ProviderOutput, ...],
                             started: dict[int, Future] | None = None) -> list[GenerationImage]:
    """`started`: derivatives already in the making, from derivatives_start(outputs)."""
    if not outputs:
        raise InvalidOutputError("no outputs")
    started = started or {}
    input_sha256 = (generation.params.get("inputs") or {}).get("image_sha256")
    checked = [
        output_checked(_content(output, provider=generation.provider), generation=generation,
                       input_sha256=input_sha256, pending=started.get(index))
        for index, output in enumerate(outputs)
    ]
    # Every output passed its checks: store the originals while the derivatives are finished.
    # Names are deterministic, so a second delivery overwrites rather than duplicates.
    bases = [f"generations/{generation.owner_id}/{generation.id}/{index}" for index in range(len(checked))]
    originals = [file_write(f"{base}.{output.extension}", output.content) for base, output in zip(bases, checked)]
    derived = [output.derived() for output in checked]
    generation.timing_mark("derivatives_done")
    images = [
        GenerationImage(
            generation=generation, index=index, file=original,
            preview=file_write(f"{base}.preview.webp", derivatives.preview_webp),
            thumbnail=file_write(f"{base}.thumb.webp", derivatives.thumbnail_webp),
            blurhash=derivatives.blurhash, width=derivatives.width, height=derivatives.height,
            size_bytes=len(output.content), sha256=output.sha256 or derivatives.sha256,
            content_type=output.content_type, duration_seconds=output.duration_seconds,
        )
        for index, (base, original, output, derivatives) in enumerate(zip(bases, originals, checked, derived))
    ]
    # One statement for all of them; a second delivery's rows replace the first's.
    GenerationImage.objects.bulk_create(
        images, update_conflicts=True, unique_fields=["generation", "index"],
        update_fields=["file", "preview", "thumbnail", "blurhash", "width", "height", "size_bytes", "sha256",
                       "content_type", "duration_seconds", "updated_at"],
    )
    generation.timing_mark("outputs_stored")
    return images
