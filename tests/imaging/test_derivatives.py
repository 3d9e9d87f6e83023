import base64
import functools
import hashlib
import io
import re

import pytest
from PIL import Image

from apps.imaging import derivatives
from apps.imaging.derivatives import blurhash_data_uri, derivatives_make
from apps.imaging.exceptions import ImageTooLargeError
from tests.media.images import encode, phone_jpeg, photo, photo_bytes

BACKENDS = [
    "pillow",
    pytest.param("pyvips", marks=pytest.mark.skipif(not derivatives.HAVE_PYVIPS, reason="no pyvips")),
]
# 4×3 (or 3×4) components: 1 size char + 1 max-AC char + 4 DC chars + 11 AC × 2 chars = 28.
BLURHASH = re.compile(r"^[0-9A-Za-z#$%*+,\-.:;=?@\[\]^_{|}~]{28}$")


@functools.cache
def source(width: int, height: int, fmt: str) -> bytes:
    return photo_bytes(width, height, fmt)


def webp(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "WEBP"
    return image


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_preview_and_thumbnail_sizes_blurhash_and_sha256(backend, fmt):
    content = source(1800, 1200, fmt)
    made = derivatives_make(content, backend=backend)
    assert webp(made.preview_webp).size == (1536, 1024)
    assert webp(made.thumbnail_webp).size == (512, 341)
    assert BLURHASH.match(made.blurhash), made.blurhash
    assert made.sha256 == hashlib.sha256(content).hexdigest()
    assert (made.width, made.height) == (1800, 1200)
    assert "exif" not in webp(made.preview_webp).info


@pytest.mark.parametrize("backend", BACKENDS)
def test_portrait_and_small_images_are_never_upscaled(backend):
    made = derivatives_make(source(800, 1600, "JPEG"), backend=backend)
    assert webp(made.preview_webp).size == (768, 1536)
    assert webp(made.thumbnail_webp).size == (256, 512)
    small = derivatives_make(photo_bytes(300, 200, "PNG"), backend=backend)
    assert webp(small.preview_webp).size == (300, 200)
    assert webp(small.thumbnail_webp).size == (300, 200)


@pytest.mark.parametrize("backend", BACKENDS)
def test_exif_orientation_is_applied_to_previews(backend):
    made = derivatives_make(phone_jpeg(64, 32), backend=backend)
    preview = webp(made.preview_webp).convert("RGB")
    assert preview.size == (32, 64) and (made.width, made.height) == (32, 64)
    assert preview.getpixel((16, 8))[0] > 180  # red on top


@pytest.mark.parametrize("backend", BACKENDS)
def test_transparency_is_kept_in_previews(backend):
    image = photo(200, 100, mode="RGBA")
    image.putalpha(Image.new("L", image.size, 0).resize(image.size))
    image.paste((255, 0, 0, 255), (50, 25, 150, 75))
    made = derivatives_make(encode(image, "PNG"), backend=backend)
    preview = webp(made.preview_webp)
    assert preview.mode == "RGBA"
    assert preview.getpixel((5, 5))[3] == 0 and preview.getpixel((100, 50))[3] == 255


def test_both_backends_agree_on_the_blurhash_closely():
    if not derivatives.HAVE_PYVIPS:
        pytest.skip("no pyvips")
    content = photo_bytes(1200, 800, "PNG")
    a = derivatives_make(content, backend="pillow").blurhash
    b = derivatives_make(content, backend="pyvips").blurhash
    # The DC (average colour) characters match; resampling differences only touch the AC terms.
    assert a[:2] == b[:2]
    assert blurhash_data_uri(a) and blurhash_data_uri(b)


def test_derivatives_refuse_an_image_over_the_pixel_limit(settings):
    settings.MEDIA_MAX_PIXELS = 10_000
    with pytest.raises(ImageTooLargeError):
        derivatives_make(photo_bytes(200, 200, "PNG"))


def test_blurhash_placeholder_is_a_32px_png_data_uri():
    made = derivatives_make(photo_bytes(320, 240, "PNG"), backend="pillow")
    uri = blurhash_data_uri(made.blurhash)
    assert uri.startswith("data:image/png;base64,")
    placeholder = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert placeholder.size == (32, 32) and placeholder.format == "PNG"
    assert len(uri) < 4000
    assert blurhash_data_uri("") == "" and blurhash_data_uri("not a hash") == ""


def test_the_default_backend_is_pyvips_when_it_imports(settings):
    settings.MEDIA_IMAGE_BACKEND = "auto"
    assert derivatives.backend_name() == ("pyvips" if derivatives.HAVE_PYVIPS else "pillow")
    settings.MEDIA_IMAGE_BACKEND = "pillow"
    assert derivatives.backend_name() == "pillow"
