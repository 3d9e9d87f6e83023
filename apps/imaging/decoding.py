"""Decoding untrusted image bytes, within limits the caller sets.

Order matters: the byte size is checked first, then the format is sniffed from the bytes and the
pixel count read from the header (Pillow's `open` is lazy), and only then is the image decoded,
which is where a truncated or corrupt file shows itself.
"""

import contextlib
import io
import struct
import warnings

from PIL import Image, UnidentifiedImageError

from .exceptions import (
    CorruptImageError,
    EmptyFileError,
    FileTooLargeError,
    ImageTooLargeError,
    UnsupportedImageError,
)

# Only these decoders ever see untrusted bytes; anything else is refused before parsing.
DECODABLE_FORMATS = ("JPEG", "PNG", "WEBP")

# Process-wide, and again around each decode, since test runners and other libraries reset
# warning filters.
warnings.simplefilter("error", Image.DecompressionBombWarning)


@contextlib.contextmanager
def _bombs_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError)


def image_decode(content: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """Check untrusted bytes and decode them: a loaded JPEG, PNG or WebP image, or an ImagingError.

    A file whose header declares more than `max_pixels` is refused before any pixel is decoded.
    """
    if not content:
        raise EmptyFileError()
    if len(content) > max_bytes:
        raise FileTooLargeError(limit=max_bytes)
    try:
        with _bombs_are_errors():
            image = Image.open(io.BytesIO(content), formats=DECODABLE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(limit=max_pixels) from None
    except UnidentifiedImageError:
        raise UnsupportedImageError() from None
    except _DECODE_ERRORS:
        # The signature matched but the header is broken.
        raise CorruptImageError() from None
    if image.format not in DECODABLE_FORMATS:  # defensive: `formats=` already restricts this
        raise UnsupportedImageError()
    width, height = image.size
    if width < 1 or height < 1:
        raise CorruptImageError()
    if width * height > max_pixels:
        raise ImageTooLargeError(width=width, height=height, limit=max_pixels)
    try:
        with _bombs_are_errors():
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(width=width, height=height, limit=max_pixels) from None
    except _DECODE_ERRORS:
        raise CorruptImageError() from None
    return image
