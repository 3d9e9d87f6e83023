"""Checking an image someone sent us, and cleaning it before it is stored.

Order matters: the byte size is checked first, then the format is sniffed from the bytes and the
pixel count read from the header (Pillow's `open` is lazy), and only then is the image decoded,
which is where a truncated or corrupt file shows itself. Cleaning turns the image upright
(EXIF orientation), converts an embedded ICC profile to sRGB, and re-encodes it without any
metadata: no EXIF (so no GPS), no XMP, no ICC profile (the pixels are sRGB, the web's default),
no text chunks.
"""

import contextlib
import io
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .exceptions import (
    CorruptImageError,
    EmptyFileError,
    FileTooLargeError,
    ImageTooLargeError,
    MaskEmptyError,
    MaskSizeMismatchError,
    UnsupportedImageError,
)

# Only these decoders ever see uploaded bytes; anything else is refused before parsing.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
# Re-encoding settings for stored originals.
JPEG_QUALITY = 92
WEBP_QUALITY = 92
# Uploads wait for this: a 2048² photo takes ~0.24 s / 2.66 MB at level 1, ~0.8 s / 2.24 MB at 6.
PNG_COMPRESS_LEVEL = 1

# Process-wide (also set in MediaConfig.ready) and again around each decode, since test runners
# and other libraries reset warning filters.
warnings.simplefilter("error", Image.DecompressionBombWarning)


@contextlib.contextmanager
def _bombs_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError)


@dataclass(frozen=True)
class CleanImage:
    """A cleaned image, encoded: what gets stored."""

    image: Image.Image
    content: bytes
    format: str  # JPEG, PNG or WEBP

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height


def _max_bytes(value: int | None) -> int:
    return value if value is not None else settings.MEDIA_MAX_UPLOAD_BYTES


def _max_pixels(value: int | None) -> int:
    return value if value is not None else settings.MEDIA_MAX_PIXELS


def image_validate(
    content: bytes, *, max_bytes: int | None = None, max_pixels: int | None = None
) -> Image.Image:
    """Check untrusted bytes and decode them: a loaded JPEG, PNG or WebP image, or a MediaError.

    Limits default to MEDIA_MAX_UPLOAD_BYTES and MEDIA_MAX_PIXELS. A file whose header declares
    more pixels than the limit is refused before any pixel is decoded.
    """
    limit_bytes, limit_pixels = _max_bytes(max_bytes), _max_pixels(max_pixels)
    if not content:
        raise EmptyFileError()
    if len(content) > limit_bytes:
        raise FileTooLargeError(limit=limit_bytes)
    try:
        with _bombs_are_errors():
            image = Image.open(io.BytesIO(content), formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(limit=limit_pixels) from None
    except UnidentifiedImageError:
        raise UnsupportedImageError() from None
    except _DECODE_ERRORS:
        # The signature matched but the header is broken.
        raise CorruptImageError() from None
    if image.format not in ALLOWED_FORMATS:  # defensive: `formats=` already restricts this
        raise UnsupportedImageError()
    width, height = image.size
    if width < 1 or height < 1:
        raise CorruptImageError()
    if width * height > limit_pixels:
        raise ImageTooLargeError(width=width, height=height, limit=limit_pixels)
    try:
        with _bombs_are_errors():
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(width=width, height=height, limit=limit_pixels) from None
    except _DECODE_ERRORS:
        raise CorruptImageError() from None
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    """Pixels converted from the embedded ICC profile to sRGB; the image unchanged without one."""
    icc = image.info.get("icc_profile")
    if not icc:
        return image
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA", "PA") else None
    base = image.convert("RGB") if image.mode not in ("RGB", "CMYK", "L") else image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(base, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # An unreadable profile is dropped; the pixels are taken as sRGB.
        return image
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


def normalise_mode(image: Image.Image) -> Image.Image:
    """L, RGB or RGBA, 8 bits per channel."""
    mode = image.mode
    if mode in ("L", "RGB", "RGBA"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit greyscale (PNG): keep the top 8 bits rather than clipping at 255.
        array = np.asarray(image, dtype=np.uint32 if mode == "I" else np.uint16)
        if mode == "I":
            array = np.clip(array, 0, 65535)
        return Image.fromarray((array >> 8).astype(np.uint8), "L")
    if mode == "F":
        return Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8), "L")
    if mode in ("LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    return image.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV


def image_clean(image: Image.Image) -> Image.Image:
    """Upright (EXIF orientation applied), sRGB, L/RGB/RGBA, with no metadata attached."""
    upright = ImageOps.exif_transpose(image) or image
    clean = normalise_mode(_to_srgb(upright))
    if clean is image:
        clean = image.copy()
    clean.info = {}
    return clean


def image_encode(image: Image.Image, fmt: str) -> bytes:
    """Encode without metadata. JPEG flattens transparency onto white."""
    out = io.BytesIO()
    if fmt == "JPEG":
        if image.mode in ("RGBA", "LA"):
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel("A"))
            image = flat
        elif image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, format="JPEG", quality=JPEG_QUALITY)
    elif fmt == "PNG":
        image.save(out, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    elif fmt == "WEBP":
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        image.save(out, format="WEBP", quality=WEBP_QUALITY, method=4)
    else:
        raise ValueError(f"cannot encode {fmt}")
    return out.getvalue()


def image_validate_clean(
    content: bytes, *, max_bytes: int | None = None, max_pixels: int | None = None
) -> CleanImage:
    """Validate untrusted bytes and return them cleaned and re-encoded in their own format."""
    image = image_validate(content, max_bytes=max_bytes, max_pixels=max_pixels)
    fmt = image.format
    clean = image_clean(image)
    return CleanImage(image=clean, content=image_encode(clean, fmt), format=fmt)


def mask_validate(mask: Image.Image, photo, allow_empty: bool = False) -> Image.Image:
    """A mask as an 8-bit L image (white = the area to change), checked against its photo.

    `photo` is anything with `width` and `height` (an Upload or a Pillow image). Transparent
    pixels count as black, so a painted layer exported with alpha works as well as an opaque one.
    """
    if mask.size != (photo.width, photo.height):
        raise MaskSizeMismatchError(mask=mask.size, photo=(photo.width, photo.height))
    if "A" in mask.getbands() or (mask.mode == "P" and "transparency" in mask.info):
        rgba = mask.convert("RGBA")
        black = Image.new("RGBA", mask.size, (0, 0, 0, 255))
        gray = Image.alpha_composite(black, rgba).convert("L")
    else:
        gray = normalise_mode(mask).convert("L")
    gray.info = {}
    if not allow_empty and gray.getbbox() is None:
        raise MaskEmptyError()
    return gray
