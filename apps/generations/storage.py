"""Checking and storing a generation's outputs: the original and a WebP thumbnail."""

import hashlib
import io
import warnings

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, UnidentifiedImageError

from apps.providers.fetch import FetchError, fetch_output
from apps.providers.types import ProviderOutput

from .models import Generation, GenerationImage

THUMBNAIL_EDGE = 512
MAX_OUTPUT_PIXELS = 40_000_000
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}


class InvalidOutputError(Exception):
    pass


def _decode(content: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content))
            if image.width * image.height > MAX_OUTPUT_PIXELS:
                raise InvalidOutputError("output is too large")
            image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise InvalidOutputError(f"output does not decode: {e}") from None
    if image.format not in EXTENSIONS:
        raise InvalidOutputError(f"unexpected output format {image.format}")
    return image


def _thumbnail(image: Image.Image) -> bytes:
    thumb = image.convert("RGB")
    thumb.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
    out = io.BytesIO()
    thumb.save(out, format="WEBP", quality=80, method=4)
    return out.getvalue()


def _write(path: str, content: bytes) -> str:
    # Names are deterministic, so a second delivery overwrites rather than duplicates.
    if default_storage.exists(path):
        default_storage.delete(path)
    return default_storage.save(path, ContentFile(content))


def generation_outputs_store(*, generation: Generation, outputs: tuple[ProviderOutput, ...]) -> list[GenerationImage]:
    if not outputs:
        raise InvalidOutputError("no outputs")
    images = []
    for index, output in enumerate(outputs):
        content = output.content
        if content is None:
            try:
                content, _ = fetch_output(output.url or "")
            except FetchError as error:
                raise InvalidOutputError(str(error)) from None
        image = _decode(content)
        base = f"generations/{generation.owner_id}/{generation.id}/{index}"
        original = _write(f"{base}.{EXTENSIONS[image.format]}", content)
        thumbnail = _write(f"{base}.thumb.webp", _thumbnail(image))
        stored, _ = GenerationImage.objects.update_or_create(
            generation=generation, index=index,
            defaults={
                "file": original, "thumbnail": thumbnail, "width": image.width, "height": image.height,
                "size_bytes": len(content), "sha256": hashlib.sha256(content).hexdigest(),
            },
        )
        images.append(stored)
    return images
