"""Cleaning a decoded image before it is stored, and encoding it.

Cleaning turns the image upright (EXIF orientation), converts an embedded ICC profile to sRGB, and
leaves no metadata: no EXIF (so no GPS), no XMP, no ICC profile (the pixels are sRGB, the web's
default), no text chunks.
"""

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, ImageOps

# Re-encoding settings for stored originals.
JPEG_QUALITY = 92
WEBP_QUALITY = 92
# Uploads wait for this: a 2048² photo takes ~0.24 s / 2.66 MB at level 1, ~0.8 s / 2.24 MB at 6.
PNG_COMPRESS_LEVEL = 1


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

