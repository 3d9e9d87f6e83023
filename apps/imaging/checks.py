"""Checks on an image a model made: the shape that was asked for, and something in it.

Each check returns what is wrong, as a short reason, or None; the caller decides what a refusal
costs. Thresholds are the caller's too.

"Something in it" is measured on the full-resolution grey image: its levels spread by at least
`min_stddev` over the whole image (a smooth gradient) or within any tile of about 16 px (fine
detail). Shrinking the image first (a 64 px thumbnail, as this check once did) averages fine detail
away: 1 px stripes become a flat grey, small text a faint wash, a few stars nothing at all. A tile
is small enough to keep them, and large enough that JPEG noise of a level or two stays far below
the threshold. Shrinking averages pixels together, which narrows their spread, so the whole-image
spread is at least the thumbnail's: what the old check let through still passes.
"""

import math

import cv2
import numpy as np
from PIL import Image

TILE = 16
# A point at least this bright (0–255) on a dark image is something to see: a star, a lamp.
VISIBLE_LEVEL = 64


def shape_problem(size: tuple[int, int], expected: tuple[int, int], *, max_ratio_drift: float) -> str | None:
    """The image's aspect ratio is further from the expected one than |log ratio| `max_ratio_drift`."""
    (width, height), (want_w, want_h) = size, expected
    if abs(math.log(width / height) - math.log(want_w / want_h)) > max_ratio_drift:
        return f"output is {width}×{height}, expected about {want_w}×{want_h}"
    return None


def tile_detail(grey: np.ndarray) -> float:
    """The largest standard deviation of the grey levels within one tile of about TILE×TILE px.

    The tile means of the levels and of their squares come from an area resize (a box filter over
    each tile), so no pixel is skipped and none is counted twice."""
    height, width = grey.shape
    tiles = (max(1, math.ceil(width / TILE)), max(1, math.ceil(height / TILE)))
    levels = grey.astype(np.float32)
    means = cv2.resize(levels, tiles, interpolation=cv2.INTER_AREA)
    squares = cv2.resize(cv2.multiply(levels, levels), tiles, interpolation=cv2.INTER_AREA)
    return math.sqrt(max(0.0, float((squares - means * means).max())))


def blank_problem(image: Image.Image, *, min_stddev: float, min_mean: float) -> str | None:
    """The image is blank or a single colour (no spread across it or within a tile), or all black
    (darker on average than `min_mean`, with no point brighter than VISIBLE_LEVEL: a night sky with
    stars passes)."""
    grey = np.asarray(image.convert("L"))
    mean, spread = (float(value.item()) for value in cv2.meanStdDev(grey))
    if spread < min_stddev and tile_detail(grey) < min_stddev:
        return "output is blank or a single colour"
    if mean < min_mean and cv2.minMaxLoc(grey)[1] < VISIBLE_LEVEL:
        return "output is all black"
    return None
