"""Derivatives of a stored image: a WebP web preview, a WebP thumbnail, a BlurHash and a SHA-256.

`derivatives_make(image_bytes)` is the one entry point, for uploads and generation outputs alike.
It expects bytes that were already decoded once within limits (`decoding.image_decode`); it still refuses
anything over the pixel limit rather than decoding it.

Two backends give the same result: pyvips (libvips: faster on PNG, which is what generators
return; see devtools/bench/scenarios/derivatives.py) and Pillow. MEDIA_IMAGE_BACKEND picks one; "auto" uses
pyvips when it imports.

Cost, for a 1024² PNG (the usual generator output), is mostly the two WebP encodes and the one
decode. So the image is decoded once (shrunk while decoding where the format allows), the
thumbnail is made from the preview and the BlurHash from a 32 px copy of the thumbnail; both
backends encode WebP through Pillow, whose one-shot encoder costs about a quarter less than
libvips' for the same libwebp settings; and the encoder's effort is set where extra effort only
saves bytes: at the same quality setting, effort 0 and effort 4 decode to the same fidelity
(PSNR within 0.3 dB); effort 4 files are about 30% smaller but take four times as long to make.
"""

import base64
import functools
import hashlib
import io
import logging
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import blurhash_rs
import numpy as np
from django.conf import settings
from PIL import Image

from .cleaning import normalise_mode
from .exceptions import ImageTooLargeError

logger = logging.getLogger(__name__)

PREVIEW_QUALITY = 82
THUMBNAIL_QUALITY = 80
# libwebp "method" (0 fastest … 6 smallest). The preview is the big encode: the fastest method;
# the thumbnail, shown many times per page, spends a little more to be smaller.
PREVIEW_EFFORT = 0
THUMBNAIL_EFFORT = 2
# BlurHash is computed from at most this many pixels on the long edge (cost grows with area).
BLURHASH_SOURCE_EDGE = 32
# Transparent pixels are flattened onto the page background before hashing.
BLURHASH_BACKGROUND = (15, 16, 19)
PLACEHOLDER_EDGE = 32

try:  # pragma: no cover - depends on the platform's wheels
    import pyvips

    HAVE_PYVIPS = True
except (ImportError, OSError):  # pragma: no cover
    pyvips = None
    HAVE_PYVIPS = False


@dataclass(frozen=True)
class Derivatives:
    preview_webp: bytes
    thumbnail_webp: bytes
    blurhash: str
    sha256: str
    width: int  # of the image as displayed (EXIF orientation applied)
    height: int


def backend_name(requested: str | None = None) -> str:
    choice = requested or getattr(settings, "MEDIA_IMAGE_BACKEND", "auto")
    if choice == "auto":
        return "pyvips" if HAVE_PYVIPS else "pillow"
    if choice == "pyvips" and not HAVE_PYVIPS:
        logger.warning("MEDIA_IMAGE_BACKEND=pyvips but pyvips does not import; using Pillow")
        return "pillow"
    return choice


def _components(width: int, height: int) -> tuple[int, int]:
    """4×3 for landscape, 3×4 for portrait: more detail along the long edge."""
    return (4, 3) if width >= height else (3, 4)


def blurhash_from_rgb(rgb: bytes, width: int, height: int) -> str:
    x, y = _components(width, height)
    return blurhash_rs.encode_rgb(rgb, width, height, x, y)


def blurhash_from_image(image: Image.Image) -> str:
    """BlurHash of a Pillow image, reduced to ≤ 32 px first; alpha is flattened onto the page colour."""
    small = image.copy()
    small.thumbnail((BLURHASH_SOURCE_EDGE, BLURHASH_SOURCE_EDGE), Image.Resampling.BILINEAR)
    if "A" in small.getbands():
        flat = Image.new("RGB", small.size, BLURHASH_BACKGROUND)
        flat.paste(small.convert("RGBA"), mask=small.convert("RGBA").getchannel("A"))
        small = flat
    elif small.mode != "RGB":
        small = small.convert("RGB")
    return blurhash_from_rgb(small.tobytes(), small.width, small.height)


@functools.lru_cache(maxsize=4096)
def blurhash_data_uri(blurhash: str, width: int = PLACEHOLDER_EDGE, height: int = PLACEHOLDER_EDGE) -> str:
    """A small PNG drawn from a BlurHash, as a data URI for a CSS background ('' if it is malformed)."""
    if not blurhash:
        return ""
    try:
        rgb = blurhash_rs.decode_rgb(blurhash, width, height, 1.0)  # punch 1: as encoded
    except (ValueError, TypeError, OverflowError):
        return ""
    return "data:image/png;base64," + base64.b64encode(_png_rgb(bytes(rgb), width, height)).decode()


def _png_rgb(rgb: bytes, width: int, height: int) -> bytes:
    """A PNG of 8-bit RGB pixels, written directly: a page of cards draws one per card, and this is
    several times cheaper than a Pillow image and encoder for 32×32 pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = np.frombuffer(rgb, dtype=np.uint8).reshape(height, width * 3)
    # PNG filter 2 ("Up": each row as its difference from the row above) suits a smooth gradient:
    # it compresses to about a third of the unfiltered size.
    filtered = rows.copy()
    filtered[1:] -= rows[:-1]
    raw = np.hstack([np.full((height, 1), 2, dtype=np.uint8), filtered]).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour, no interlace
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


# ---------------------------------------------------------------- Pillow

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _pillow_webp(image: Image.Image, quality: int, effort: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=quality, method=effort)
    return out.getvalue()


def _alongside(background, foreground):
    """(background(), foreground()) with background run in a second thread. libwebp and libvips
    release the GIL, so the preview encodes on another core while the thumbnail is made; on a
    busy machine it costs no more than running them one after the other."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(background)
        done = foreground()
        return pending.result(), done


def _derive_pillow(
    image_bytes: bytes, *, preview_edge: int, thumbnail_edge: int, max_pixels: int
) -> Derivatives:
    image = Image.open(io.BytesIO(image_bytes))
    if image.width * image.height > max_pixels:
        raise ImageTooLargeError(width=image.width, height=image.height, limit=max_pixels)
    orientation = image.getexif().get(0x0112, 1)
    width, height = (image.height, image.width) if orientation in (5, 6, 7, 8) else image.size
    # On a JPEG not yet loaded, thumbnail() decodes at a reduced DCT scale (draft mode).
    image.thumbnail((preview_edge, preview_edge), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if orientation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[orientation])
    image = normalise_mode(image)  # L, RGB or RGBA at 8 bits (16-bit PNGs keep their top byte)
    preview = image.convert("RGBA" if image.mode == "RGBA" else "RGB")
    preview.info = {}

    def thumbnail_and_blurhash():
        thumbnail = preview.copy()
        thumbnail.thumbnail((thumbnail_edge, thumbnail_edge), Image.Resampling.LANCZOS)
        return _pillow_webp(thumbnail, THUMBNAIL_QUALITY, THUMBNAIL_EFFORT), blurhash_from_image(thumbnail)

    preview_webp, (thumbnail_webp, blurhash) = _alongside(
        lambda: _pillow_webp(preview, PREVIEW_QUALITY, PREVIEW_EFFORT), thumbnail_and_blurhash
    )
    return Derivatives(
        preview_webp=preview_webp,
        thumbnail_webp=thumbnail_webp,
        blurhash=blurhash,
        sha256=hashlib.sha256(image_bytes).hexdigest(),
        width=width,
        height=height,
    )


# ---------------------------------------------------------------- pyvips


def _vips_srgb(image):
    """8-bit sRGB (or grey) with alpha kept, whatever the source's depth and colour space."""
    if image.interpretation not in ("srgb", "b-w") or image.format != "uchar":
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    if image.bands in (1, 2):  # grey (+ alpha) → RGB (+ alpha), as WebP wants
        alpha = image[1] if image.bands == 2 else None
        image = image[0].bandjoin([image[0], image[0]])
        if alpha is not None:
            image = image.bandjoin(alpha)
        image = image.copy(interpretation="srgb")
    return image


def _vips_webp(image, quality: int, effort: int) -> bytes:
    """WebP of an 8-bit sRGB(A) image from _vips_srgb, encoded by Pillow (see the module note)."""
    mode = "RGBA" if image.bands == 4 else "RGB"
    pixels = Image.frombuffer(mode, (image.width, image.height), image.write_to_memory(), "raw", mode, 0, 1)
    return _pillow_webp(pixels, quality, effort)


def _derive_vips(
    image_bytes: bytes, *, preview_edge: int, thumbnail_edge: int, max_pixels: int
) -> Derivatives:
    header = pyvips.Image.new_from_buffer(image_bytes, "", access="sequential")
    if header.width * header.height > max_pixels:
        raise ImageTooLargeError(width=header.width, height=header.height, limit=max_pixels)
    orientation = header.get("orientation") if header.get_typeof("orientation") else 1
    width, height = (
        (header.height, header.width) if orientation in (5, 6, 7, 8) else (header.width, header.height)
    )
    # thumbnail_buffer applies the EXIF orientation and shrinks JPEGs while decoding.
    preview = pyvips.Image.thumbnail_buffer(image_bytes, preview_edge, height=preview_edge, size="down")
    preview = _vips_srgb(preview).copy_memory()

    def thumbnail_and_blurhash():
        thumbnail = preview.thumbnail_image(thumbnail_edge, height=thumbnail_edge, size="down").copy_memory()
        small = thumbnail.thumbnail_image(BLURHASH_SOURCE_EDGE, height=BLURHASH_SOURCE_EDGE, size="down")
        if small.hasalpha():
            small = small.flatten(background=list(BLURHASH_BACKGROUND))
        small = small.cast("uchar")
        return (
            _vips_webp(thumbnail, THUMBNAIL_QUALITY, THUMBNAIL_EFFORT),
            blurhash_from_rgb(bytes(small.write_to_memory()), small.width, small.height),
        )

    preview_webp, (thumbnail_webp, blurhash) = _alongside(
        lambda: _vips_webp(preview, PREVIEW_QUALITY, PREVIEW_EFFORT), thumbnail_and_blurhash
    )
    return Derivatives(
        preview_webp=preview_webp,
        thumbnail_webp=thumbnail_webp,
        blurhash=blurhash,
        sha256=hashlib.sha256(image_bytes).hexdigest(),
        width=width,
        height=height,
    )


def derivatives_make(
    image_bytes: bytes,
    *,
    preview_edge: int | None = None,
    thumbnail_edge: int | None = None,
    max_pixels: int | None = None,
    backend: str | None = None,
) -> Derivatives:
    """Preview (≤ MEDIA_PREVIEW_EDGE px) and thumbnail (≤ MEDIA_THUMBNAIL_EDGE px) as WebP, never
    upscaled, upright and without metadata; a BlurHash of the thumbnail; the SHA-256 of the bytes."""
    options = {
        "preview_edge": preview_edge or settings.MEDIA_PREVIEW_EDGE,
        "thumbnail_edge": thumbnail_edge or settings.MEDIA_THUMBNAIL_EDGE,
        "max_pixels": max_pixels or settings.MEDIA_MAX_PIXELS,
    }
    if backend_name(backend) == "pyvips":
        try:
            return _derive_vips(image_bytes, **options)
        except pyvips.Error:
            # libvips refused something Pillow may read (an odd PNG chunk, say): try Pillow.
            logger.warning("pyvips could not make derivatives; falling back to Pillow", exc_info=True)
    return _derive_pillow(image_bytes, **options)
