"""Output checks: the blank check keeps fine detail (stripes, small text, a product on white, a few
stars) and still refuses flat images; the shape check compares aspect ratios."""

import pytest
from django.conf import settings
from PIL import Image

from apps.imaging.checks import blank_problem, shape_problem
from apps.imaging.decoding import image_decode
from tests.media.images import encode

from . import outputs

BLANK = "output is blank or a single colour"


def problem(image: Image.Image) -> str | None:
    return blank_problem(image, min_stddev=settings.OUTPUT_MIN_STDDEV, min_mean=settings.OUTPUT_MIN_MEAN)


@pytest.mark.parametrize("draw", [outputs.fine_stripes, outputs.small_text, outputs.product_on_white,
                                  outputs.night_sky, outputs.smooth_gradient], ids=lambda draw: draw.__name__)
def test_fine_detail_passes(draw):
    assert problem(draw()) is None


@pytest.mark.parametrize("image, reason", [
    (outputs.flat(255), BLANK),
    (outputs.flat(128), BLANK),
    (outputs.flat(0), BLANK),
    (outputs.flat((200, 40, 40)), BLANK),
    (outputs.near_uniform(), BLANK),
    (outputs.near_uniform(level=250), BLANK),
    (outputs.dark_noise(), "output is all black"),
], ids=["white", "grey", "black", "red", "grey-with-noise", "white-with-noise", "dark-noise"])
def test_flat_images_are_still_refused(image, reason):
    assert problem(image) == reason


def test_decoded_outputs_are_judged_alike_in_every_mode():
    # Decoded PNGs, as the finishing step sees them: greyscale, palette and RGBA keep their verdicts.
    for mode in ("L", "P", "RGBA"):
        for image, expected in ((outputs.fine_stripes(), None), (outputs.flat(128), BLANK)):
            # An adaptive palette holds the colours as they are (the default one would dither them).
            converted = image.convert(mode, palette=Image.Palette.ADAPTIVE)
            decoded = image_decode(encode(converted, "PNG"), max_bytes=10**8, max_pixels=10**8)
            assert decoded.mode == mode
            assert problem(decoded) == expected, mode


def test_detail_in_one_corner_tile_is_found():
    image = outputs.flat(0, size=1000)  # not a multiple of the tile size: the last tiles are narrower
    image.putpixel((999, 999), (255, 255, 255))
    image.putpixel((995, 990), (255, 255, 255))
    assert problem(image) is None


def test_small_images_are_one_tile():
    assert problem(outputs.fine_stripes(size=8)) is None
    assert problem(outputs.flat(90, size=8)) == BLANK


def test_the_shape_is_compared_by_aspect_ratio():
    assert shape_problem((1024, 1024), (512, 512), max_ratio_drift=0.35) is None
    assert shape_problem((1376, 768), (1344, 768), max_ratio_drift=0.35) is None
    refused = shape_problem((128, 32), (512, 512), max_ratio_drift=0.35)
    assert refused == "output is 128×32, expected about 512×512"
