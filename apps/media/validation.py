"""What users may upload: the limits for an uploaded photo, mask or reference, and what a mask must be.

The decoding itself (format sniffed from the bytes, pixel cap from the header, bombs, truncation)
and the cleaning are `apps.imaging`'s; this module sets the upload limits and checks masks.
"""

from django.conf import settings
from PIL import Image

from apps.imaging.cleaning import CleanImage, image_clean, image_encode, normalise_mode
from apps.imaging.decoding import image_decode

from .exceptions import MaskEmptyError, MaskSizeMismatchError


def image_validate(
    content: bytes, *, max_bytes: int | None = None, max_pixels: int | None = None
) -> Image.Image:
    """Check untrusted bytes and decode them: a loaded JPEG, PNG or WebP image, or an ImagingError.

    Limits default to MEDIA_MAX_UPLOAD_BYTES and MEDIA_MAX_PIXELS.
    """
    return image_decode(
        content,
        max_bytes=max_bytes if max_bytes is not None else settings.MEDIA_MAX_UPLOAD_BYTES,
        max_pixels=max_pixels if max_pixels is not None else settings.MEDIA_MAX_PIXELS,
    )


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
