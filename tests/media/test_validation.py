"""What users may upload: the limits from settings, formats kept, phone photos stored upright and
without metadata. How bytes are decoded and cleaned is tested in tests/imaging."""

import io
import time

import pytest
from PIL import Image

from apps.imaging.exceptions import FileTooLargeError, ImageTooLargeError
from apps.media import services
from apps.media.models import Upload
from apps.media.storage import file_read
from apps.media.validation import image_validate, image_validate_clean

from .images import bomb_png, phone_jpeg, photo_bytes


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
