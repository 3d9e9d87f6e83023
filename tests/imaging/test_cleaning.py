"""Cleaning before storing: no metadata left, ICC profiles converted, odd modes made 8-bit L/RGB/RGBA."""

import io

import numpy as np
from PIL import Image, ImageCms, PngImagePlugin

from apps.imaging.cleaning import image_clean, image_encode
from apps.imaging.decoding import image_decode
from tests.media.images import encode, photo


def cleaned(raw: bytes) -> tuple[Image.Image, bytes]:
    """The cleaned image and its PNG encoding."""
    image = image_clean(image_decode(raw, max_bytes=10**8, max_pixels=10**8))
    return image, image_encode(image, "PNG")


def test_png_text_chunks_and_icc_profiles_are_dropped():
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Ada Secret")
    info.add_text("parameters", "a prompt someone wanted private")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    raw = encode(photo(64, 48), "PNG", pnginfo=info, icc_profile=srgb)
    assert b"Ada Secret" in raw

    image, content = cleaned(raw)

    assert b"Ada Secret" not in content and b"private" not in content
    assert Image.open(io.BytesIO(content)).info == {}
    # Converted from the (sRGB) profile to sRGB: the pixels are the same.
    assert image.getpixel((32, 24)) == photo(64, 48).getpixel((32, 24))


def test_16_bit_greyscale_keeps_its_tones_in_8_bits():
    ramp = (np.arange(256, dtype=np.uint16) * 257).reshape(1, 256).repeat(4, axis=0)
    image, _ = cleaned(encode(Image.fromarray(ramp), "PNG"))
    assert image.mode == "L"
    assert list(image.get_flattened_data())[:256] == list(range(256))


def test_a_palette_png_with_transparency_becomes_rgba():
    image = photo(32, 32).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    image.info["transparency"] = 0
    clean, _ = cleaned(encode(image, "PNG", transparency=0))
    assert clean.mode == "RGBA"
