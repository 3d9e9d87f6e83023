import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from apps.imaging import operations
from apps.imaging.operations import OPERATIONS, OperationError
from tests.media.images import photo


@pytest.mark.parametrize(
    "aspect, size, box",
    [
        ("1:1", (240, 240), (40, 0, 280, 240)),
        ("16:9", (320, 180), (0, 30, 320, 210)),
        ("9:16", (135, 240), (92, 0, 227, 240)),
        ("4:5", (192, 240), (64, 0, 256, 240)),
        ("4:3", (320, 240), (0, 0, 320, 240)),
    ],
)
def test_crop_to_aspect_is_a_centred_crop_of_the_largest_box(aspect, size, box):
    image = photo(320, 240)
    cropped = operations.crop_to_aspect(image, aspect)
    assert cropped.size == size
    assert operations.crop_box_for_aspect(image.size, aspect) == box
    assert cropped.tobytes() == image.crop(box).tobytes()


@pytest.mark.parametrize("aspect", ["0:1", "wide", "1:-2", ""])
def test_crop_refuses_what_is_not_a_ratio(aspect):
    with pytest.raises(OperationError):
        operations.crop_to_aspect(photo(32, 32), aspect)


def test_resize_long_edge_and_resize_and_crop_give_exact_sizes():
    image = photo(320, 240)
    assert operations.resize_long_edge(image, 160).size == (160, 120)
    assert operations.resize_long_edge(photo(240, 320), 1024).size == (768, 1024)
    assert operations.resize_and_crop(image, 100, 100).size == (100, 100)
    assert operations.resize_and_crop(image, 160, 90).size == (160, 90)


@pytest.mark.parametrize("factor", [2, 4])
def test_upscale_gives_exact_sizes_and_sharpens_after_lanczos(factor):
    image = photo(80, 60)
    big = operations.upscale(image, factor)
    assert big.size == (80 * factor, 60 * factor)
    plain = image.resize(big.size, Image.Resampling.LANCZOS)
    # The unsharp mask raises edge contrast: the edge map of the result is stronger.
    edges = lambda im: np.asarray(im.convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float32).mean()  # noqa: E731
    assert edges(big) > edges(plain) * 1.1


def test_upscale_keeps_transparency():
    image = photo(40, 30, mode="RGBA")
    image.putalpha(Image.new("L", image.size, 128))
    big = operations.upscale(image, 2)
    assert big.mode == "RGBA" and big.getchannel("A").getextrema() == (128, 128)


def test_upscale_refuses_other_factors():
    with pytest.raises(OperationError):
        operations.upscale(photo(8, 8), 8)


def _cast(image: Image.Image, gains) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32) * np.array(gains, dtype=np.float32)
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")


def test_grey_world_removes_a_colour_cast():
    neutral = photo(200, 150).convert("L").convert("RGB")  # a grey scene
    blue_cast = _cast(neutral, (0.8, 0.9, 1.15))
    means = np.asarray(blue_cast, dtype=np.float32).reshape(-1, 3).mean(axis=0)
    assert means[2] - means[0] > 30

    balanced = operations.white_balance(blue_cast, "grey_world")

    means = np.asarray(balanced, dtype=np.float32).reshape(-1, 3).mean(axis=0)
    assert np.ptp(means) < 2.0, means


def test_white_patch_makes_the_brightest_thing_white():
    image = Image.new("RGB", (100, 100), (90, 100, 120))
    ImageDraw.Draw(image).rectangle((10, 10, 30, 30), fill=(200, 220, 250))  # a warm-lit white card
    balanced = operations.white_balance(image, "white_patch")
    assert balanced.getpixel((20, 20)) == (255, 255, 255)
    assert balanced.getpixel((80, 80)) == (115, 116, 122)


def test_auto_levels_stretches_a_flat_image_with_clipping_and_keeps_hue():
    rng = np.random.default_rng(7)
    values = rng.integers(100, 151, size=(100, 100)).astype(np.uint8)
    flat = Image.fromarray(np.stack([values, values, values], axis=-1), "RGB")
    stretched = operations.auto_levels(flat, clip_low=1, clip_high=1)
    low, high = stretched.convert("L").getextrema()
    assert (low, high) == (0, 255)
    r, g, b = stretched.split()
    assert r.tobytes() == g.tobytes() == b.tobytes()  # one curve for all channels: greys stay grey


def test_auto_levels_leaves_a_uniform_image_alone():
    uniform = Image.new("RGB", (10, 10), (90, 90, 90))
    assert operations.auto_levels(uniform).tobytes() == uniform.tobytes()


def test_color_correct_is_white_balance_then_levels():
    image = _cast(photo(100, 80), (1.1, 1.0, 0.7))
    expected = operations.auto_levels(operations.white_balance(image, "white_patch"))
    assert operations.color_correct(image, white_balance_method="white_patch").tobytes() == expected.tobytes()
    assert operations.color_correct(image, white_balance_method="none").tobytes() == (
        operations.auto_levels(image).tobytes()
    )


def subject_on_background(width: int = 160, height: int = 120) -> tuple[Image.Image, Image.Image]:
    """A textured blue-green background with an orange ellipse in the middle; and its true mask."""
    rng = np.random.default_rng(3)
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    background = np.stack([20 + 30 * x + 0 * y, 90 + 60 * y + 0 * x, 150 + 50 * x * y], axis=-1)
    background += rng.normal(0, 8, background.shape)
    image = Image.fromarray(background.clip(0, 255).astype(np.uint8), "RGB")
    truth = Image.new("L", (width, height), 0)
    box = (width * 0.3, height * 0.22, width * 0.7, height * 0.78)
    ImageDraw.Draw(truth).ellipse(box, fill=255)
    subject = Image.new("RGB", (width, height), (235, 120, 40))
    image.paste(subject, mask=truth)
    return image, truth


def test_grabcut_makes_the_background_transparent_and_keeps_the_subject():
    image, truth = subject_on_background()
    result = operations.remove_background_grabcut(image)

    assert result.mode == "RGBA" and result.size == image.size
    alpha = np.asarray(result.getchannel("A"), dtype=np.float32)
    inside = np.asarray(truth.filter(ImageFilter.MinFilter(9))) == 255  # the subject, away from its edge
    outside = np.asarray(truth.filter(ImageFilter.MaxFilter(9))) == 0  # the background, away from the edge
    assert alpha[outside].mean() < 5, alpha[outside].mean()
    assert (alpha[outside] == 0).mean() > 0.97
    assert alpha[inside].mean() > 250, alpha[inside].mean()
    opaque = (alpha > 127).sum() / (np.asarray(truth) == 255).sum()
    assert 0.9 < opaque < 1.1, opaque
    # Feathered: the edge has partial alpha rather than a hard step.
    assert ((alpha > 10) & (alpha < 245)).sum() > 0
    # Colour is untouched.
    assert result.convert("RGB").tobytes() == image.tobytes()


def test_grabcut_refuses_an_image_too_small_to_work_on():
    with pytest.raises(OperationError):
        operations.remove_background_grabcut(photo(6, 6))


def test_convert_for_jpeg_flattens_onto_white_and_png_keeps_alpha():
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert operations.convert_for_format(image, "JPEG").getpixel((0, 0)) == (255, 255, 255)
    assert operations.convert_for_format(image, "PNG").mode == "RGBA"
    with pytest.raises(OperationError):
        operations.convert_for_format(image, "GIF")


def test_the_catalogue_lists_each_operation_with_its_parameters():
    assert list(OPERATIONS) == ["crop", "resize", "upscale", "color", "remove_background", "convert"]
    upscale = OPERATIONS.get("upscale")
    assert upscale.clean({}) == {"factor": 2}
    assert upscale.clean({"factor": "4"}) == {"factor": 4}
    assert upscale.output_size((100, 50), {"factor": 4}) == (400, 200)
    assert OPERATIONS.get("resize").clean({}) == {"long_edge": 1024}
    assert OPERATIONS.get("remove_background").output_format("JPEG", {}) == "PNG"
    assert OPERATIONS.get("convert").output_format("PNG", {"format": "WEBP"}) == "WEBP"
    assert OPERATIONS.get("crop").output_size((320, 240), {"aspect": "16:9"}) == (320, 180)
    with pytest.raises(OperationError, match="Factor: not one of the choices"):
        upscale.clean({"factor": "8"})
    with pytest.raises(OperationError, match="unknown setting 'scale'"):
        upscale.clean({"scale": "2"})
