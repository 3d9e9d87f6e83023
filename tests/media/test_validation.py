import io
import time

import pytest
from PIL import Image, ImageCms, PngImagePlugin

from apps.media import services
from apps.media.exceptions import (
    CorruptImageError,
    EmptyFileError,
    FileTooLargeError,
    ImageTooLargeError,
    UnsupportedImageError,
)
from apps.media.models import Upload
from apps.media.storage import file_read
from apps.media.validation import image_validate, image_validate_clean

from .images import HTML, PDF, bomb_png, encode, phone_jpeg, photo, photo_bytes, truncated_jpeg


def test_a_photo_passes_and_is_fully_decoded():
    image = image_validate(photo_bytes(320, 240, "JPEG"))
    assert (image.format, image.size, image.mode) == ("JPEG", (320, 240), "RGB")
    assert image.im is not None  # loaded, not just opened


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_each_allowed_format_keeps_its_format(fmt):
    clean = image_validate_clean(photo_bytes(64, 48, fmt))
    assert clean.format == fmt
    assert Image.open(io.BytesIO(clean.content)).format == fmt


def test_oversize_bytes_are_refused_before_opening(settings):
    settings.MEDIA_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(FileTooLargeError) as caught:
        image_validate(b"\xff\xd8" + bytes(1000))
    assert caught.value.http_status == 413
    assert caught.value.code == "file_too_large"
    assert caught.value.message == "The file is too large: the limit is 0.000953674 MB."


def test_the_default_limits_are_20_mb_and_40_megapixels(settings):
    assert settings.MEDIA_MAX_UPLOAD_BYTES == 20 * 1024 * 1024
    assert settings.MEDIA_MAX_PIXELS == 40_000_000
    with pytest.raises(FileTooLargeError, match="the limit is 20 MB"):
        image_validate(bytes(20 * 1024 * 1024 + 1))


def test_a_20000_square_png_bomb_is_refused_from_its_header_without_decoding(user):
    bomb = bomb_png(20_000, 20_000)
    assert len(bomb) < 1_000_000  # small on the wire, 400 MB decoded
    started = time.perf_counter()
    with pytest.raises(ImageTooLargeError) as caught:
        services.upload_create(user=user, content=bomb)
    elapsed = time.perf_counter() - started
    assert elapsed < 3, f"took {elapsed:.2f} s: it was decoded"
    assert caught.value.http_status == 413
    # Pillow itself stops at 179 MP while reading the header, so the size is not known here.
    assert caught.value.message == "The image has too many pixels: the limit is 40 MP."
    assert not Upload.objects.exists()


def test_an_image_over_our_pixel_limit_says_how_large_it_is(settings):
    settings.MEDIA_MAX_PIXELS = 1_000_000
    with pytest.raises(ImageTooLargeError) as caught:
        image_validate(bomb_png(2_000, 1_000))
    assert (
        caught.value.message
        == "The image has too many pixels: the limit is 1 MP. The image is 2000×1000 pixels."
    )


def test_pillows_bomb_warning_is_an_error_even_above_our_own_limit(settings):
    # 100 MP is past Pillow's warning threshold (89.5 MP) but below its hard error (179 MP).
    settings.MEDIA_MAX_PIXELS = 10**9
    with pytest.raises(ImageTooLargeError) as caught:
        image_validate(bomb_png(10_000, 10_000), max_bytes=10**9)
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
        image_validate(content)
    assert (caught.value.code, caught.value.http_status) == ("unsupported_image", 422)
    assert caught.value.message == "This file is not a JPEG, PNG or WebP image."


def test_a_truncated_jpeg_is_refused():
    with pytest.raises(CorruptImageError) as caught:
        image_validate(truncated_jpeg())
    assert (caught.value.code, caught.value.http_status) == ("image_corrupt", 422)
    assert caught.value.message == "The image is damaged or incomplete and could not be read."


def test_a_png_with_a_broken_body_is_refused():
    data = bytearray(photo_bytes(64, 64, "PNG"))
    data[60:200] = bytes(140)
    with pytest.raises(CorruptImageError):
        image_validate(bytes(data))


def test_an_empty_file_is_refused():
    with pytest.raises(EmptyFileError, match="The file is empty."):
        image_validate(b"")


def test_a_phone_photo_is_stored_upright_without_exif_gps_or_xmp(user):
    raw = phone_jpeg(64, 32)
    assert b"PhoneCo" in raw and b"Ada Secret" in raw and Image.open(io.BytesIO(raw)).getexif()[0x8825]

    upload = services.upload_create(user=user, content=raw, filename="IMG_0001.JPG")

    stored = file_read(upload.file)
    image = Image.open(io.BytesIO(stored))
    assert (upload.width, upload.height, upload.format) == (32, 64, "JPEG")
    assert image.size == (32, 64)
    # Red was on the left of the sensor; turned 90° clockwise it is on top.
    top, bottom = image.getpixel((16, 8)), image.getpixel((16, 56))
    assert top[0] > 180 and top[2] < 80, top
    assert bottom[2] > 180 and bottom[0] < 80, bottom
    assert dict(image.getexif()) == {}
    assert not {"exif", "xmp", "icc_profile"} & set(image.info)
    for secret in (b"Exif", b"PhoneCo", b"Pocket 12", b"Ada Secret", b"xmpmeta"):
        assert secret not in stored
    assert upload.original_name == "IMG_0001.JPG"


def test_png_text_chunks_and_icc_profiles_are_dropped():
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Ada Secret")
    info.add_text("parameters", "a prompt someone wanted private")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    raw = encode(photo(64, 48), "PNG", pnginfo=info, icc_profile=srgb)
    assert b"Ada Secret" in raw

    clean = image_validate_clean(raw)

    assert b"Ada Secret" not in clean.content and b"private" not in clean.content
    assert Image.open(io.BytesIO(clean.content)).info == {}
    # Converted from the (sRGB) profile to sRGB: the pixels are the same.
    assert clean.image.getpixel((32, 24)) == photo(64, 48).getpixel((32, 24))


def test_16_bit_greyscale_keeps_its_tones_in_8_bits():
    import numpy as np

    ramp = (np.arange(256, dtype=np.uint16) * 257).reshape(1, 256).repeat(4, axis=0)
    clean = image_validate_clean(encode(Image.fromarray(ramp), "PNG"))
    assert clean.image.mode == "L"
    assert list(clean.image.get_flattened_data())[:256] == list(range(256))


def test_a_palette_png_with_transparency_becomes_rgba():
    image = photo(32, 32).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    image.info["transparency"] = 0
    clean = image_validate_clean(encode(image, "PNG", transparency=0))
    assert clean.image.mode == "RGBA"
