"""Checking and storing a generation's outputs: the original, a WebP preview and thumbnail, a
BlurHash placeholder and a content hash."""

import math

from django.conf import settings
from PIL import Image, ImageStat

from apps.media.derivatives import derivatives_make
from apps.media.exceptions import MediaError
from apps.media.storage import file_write
from apps.media.validation import image_validate
from apps.providers.fetch import FetchError, fetch_output
from apps.providers.types import ProviderOutput

from .models import Generation, GenerationImage

EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}


class InvalidOutputError(Exception):
    pass


def _ratio(width: int, height: int) -> float:
    return math.log(width / height)


def output_check(image: Image.Image, *, generation: Generation, input_sha256: str | None, sha256: str) -> None:
    """An output is refused if it is blank, uniform, black, the wrong shape, or the input again."""
    if abs(_ratio(image.width, image.height) - _ratio(generation.width, generation.height)) > settings.OUTPUT_MAX_RATIO_DRIFT:
        raise InvalidOutputError(f"output is {image.width}×{image.height}, expected about {generation.width}×{generation.height}")
    small = image.convert("L")
    small.thumbnail((64, 64))
    stat = ImageStat.Stat(small)
    if stat.stddev[0] < settings.OUTPUT_MIN_STDDEV:
        raise InvalidOutputError("output is blank or a single colour")
    if stat.mean[0] < settings.OUTPUT_MIN_MEAN:
        raise InvalidOutputError("output is all black")
    if input_sha256 and sha256 == input_sha256:
        raise InvalidOutputError("output is the input image unchanged")


def _content(output: ProviderOutput) -> bytes:
    if output.content is not None:
        return output.content
    try:
        content, _ = fetch_output(output.url or "")
    except FetchError as error:
        raise InvalidOutputError(str(error)) from None
    return content


def generation_outputs_store(*, generation: Generation, outputs: tuple[ProviderOutput, ...]) -> list[GenerationImage]:
    if not outputs:
        raise InvalidOutputError("no outputs")
    input_sha256 = (generation.params.get("inputs") or {}).get("image_sha256")
    checked = []
    for output in outputs:
        content = _content(output)
        try:
            image = image_validate(content, max_bytes=settings.PROVIDER_FETCH_MAX_BYTES)
            derivatives = derivatives_make(content)
        except MediaError as error:
            raise InvalidOutputError(f"output does not decode: {error.code}") from None
        output_check(image, generation=generation, input_sha256=input_sha256, sha256=derivatives.sha256)
        checked.append((content, image, derivatives))
    images = []
    for index, (content, image, derivatives) in enumerate(checked):
        base = f"generations/{generation.owner_id}/{generation.id}/{index}"
        # Names are deterministic, so a second delivery overwrites rather than duplicates.
        stored, _ = GenerationImage.objects.update_or_create(
            generation=generation, index=index,
            defaults={
                "file": file_write(f"{base}.{EXTENSIONS[image.format]}", content),
                "preview": file_write(f"{base}.preview.webp", derivatives.preview_webp),
                "thumbnail": file_write(f"{base}.thumb.webp", derivatives.thumbnail_webp),
                "blurhash": derivatives.blurhash, "width": derivatives.width, "height": derivatives.height,
                "size_bytes": len(content), "sha256": derivatives.sha256,
            },
        )
        images.append(stored)
    return images
