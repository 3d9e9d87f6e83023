"""Decoding untrusted bytes within limits: formats sniffed, pixels capped from the header, bombs and
damaged files refused with a clear error."""

import pytest

from apps.imaging.decoding import image_decode
from apps.imaging.exceptions import (
    CorruptImageError,
    EmptyFileError,
    ImageTooLargeError,
    UnsupportedImageError,
)
from tests.media.images import HTML, PDF, bomb_png, encode, photo, photo_bytes, truncated_jpeg

LIMITS = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 40_000_000}


def test_a_photo_passes_and_is_fully_decoded():
    image = image_decode(photo_bytes(320, 240, "JPEG"), **LIMITS)
    assert (image.format, image.size, image.mode) == ("JPEG", (320, 240), "RGB")
    assert image.im is not None  # loaded, not just opened


def test_an_image_over_the_pixel_limit_says_how_large_it_is():
    with pytest.raises(ImageTooLargeError) as caught:
        image_decode(bomb_png(2_000, 1_000), max_bytes=LIMITS["max_bytes"], max_pixels=1_000_000)
    assert (
        caught.value.message
        == "The image has too many pixels: the limit is 1 MP. The image is 2000×1000 pixels."
    )


def test_pillows_bomb_warning_is_an_error_even_above_our_own_limit():
    # 100 MP is past Pillow's warning threshold (89.5 MP) but below its hard error (179 MP).
    with pytest.raises(ImageTooLargeError) as caught:
        image_decode(bomb_png(10_000, 10_000), max_bytes=10**9, max_pixels=10**9)
    assert caught.value.code == "image_too_large"


@pytest.mark.parametrize(
    "content",
    [
        PDF,
        HTML,
        b"GIF89a" + bytes(40),
        encode(photo(16, 16), "GIF"),
        encode(photo(16, 16), "BMP"),
        encode(photo(16, 16), "TIFF"),
    ],
    ids=["pdf", "html", "gif-header", "gif", "bmp", "tiff"],
)
def test_anything_but_jpeg_png_webp_is_refused_whatever_its_name(content):
    with pytest.raises(UnsupportedImageError) as caught:
        image_decode(content, **LIMITS)
    assert (caught.value.code, caught.value.http_status) == ("unsupported_image", 422)
    assert caught.value.message == "This file is not a JPEG, PNG or WebP image."


def test_a_truncated_jpeg_is_refused():
    with pytest.raises(CorruptImageError) as caught:
        image_decode(truncated_jpeg(), **LIMITS)
    assert (caught.value.code, caught.value.http_status) == ("image_corrupt", 422)
    assert caught.value.message == "The image is damaged or incomplete and could not be read."


def test_a_png_with_a_broken_body_is_refused():
    data = bytearray(photo_bytes(64, 64, "PNG"))
    data[60:200] = bytes(140)
    with pytest.raises(CorruptImageError):
        image_decode(bytes(data), **LIMITS)


def test_an_empty_file_is_refused():
    with pytest.raises(EmptyFileError, match="The file is empty."):
        image_decode(b"", **LIMITS)
