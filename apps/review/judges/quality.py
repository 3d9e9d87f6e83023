"""Technical quality, no reference: sharpness, noise and exposure, combined into `quality_score`."""

import cv2
import numpy as np
from PIL import Image

from ..contract import FunctionJudge, ReviewRequest, Stage
from .pixels import grey, noise_sigma

# A crisp edge between two flat areas gives a Laplacian response of this order at the work size.
_CRISP = 60.0
# The noise estimate reads the centre of the full-resolution image (shrinking averages noise away).
_NOISE_CROP = 512
# Average grey levels below or above these read as under- or overexposed.
_DARK_MEAN, _BRIGHT_MEAN = 25.0, 235.0


def measures(image: Image.Image) -> dict:
    small = grey(image)
    laplacian = np.abs(cv2.Laplacian(small, cv2.CV_32F, ksize=1))
    # The strongest 1 % of edges: a picture with large flat areas and crisp outlines is sharp.
    sharpness = float(min(1.0, np.percentile(laplacian, 99) / _CRISP))
    full = np.asarray(image.convert("L"), dtype=np.float32)
    h, w = full.shape
    top, left = max(0, (h - _NOISE_CROP) // 2), max(0, (w - _NOISE_CROP) // 2)
    noise = noise_sigma(full[top:top + _NOISE_CROP, left:left + _NOISE_CROP])
    dark = float(np.mean(small <= 6))
    bright = float(np.mean(small >= 249))
    return {"sharpness": round(sharpness, 4), "noise": round(noise, 3), "dark": round(dark, 4),
            "bright": round(bright, 4), "mean": round(float(small.mean()), 2)}


def quality_judge(image: Image.Image, request: ReviewRequest, limits: dict) -> tuple[bool, float, str]:
    m = measures(image)
    noise_penalty = min(1.0, max(0.0, (m["noise"] - limits["noise_max"] / 2) / (limits["noise_max"] * 2)))
    clipped = max(m["dark"], m["bright"])
    exposure = 1.0 - min(1.0, max(0.0, clipped - limits["clipped_max"] / 2) / limits["clipped_max"])
    if not _DARK_MEAN <= m["mean"] <= _BRIGHT_MEAN:
        exposure *= 0.5
    score = round(m["sharpness"] * (1 - noise_penalty) * exposure, 4)
    problems = []
    # Exposure first: a dark picture also reads as soft, and its darkness is what the user sees.
    if m["dark"] > limits["clipped_max"] or m["mean"] < _DARK_MEAN:
        problems.append("The image is too dark: large areas are crushed to black.")
    elif m["bright"] > limits["clipped_max"] or m["mean"] > _BRIGHT_MEAN:
        problems.append("The image is overexposed: large areas are blown out to white.")
    if m["noise"] > limits["noise_max"]:
        problems.append("The image is grainy: there is visible noise across it.")
    if m["sharpness"] < limits["sharpness_min"]:
        problems.append("The image looks blurry: edges are soft throughout.")
    if not problems and score < limits["quality_min"]:
        problems.append("The image is technically weak: soft, noisy or badly exposed.")
    if problems:
        return False, score, problems[0]
    return True, score, "Sharp, clean and well exposed."


judge = FunctionJudge(name="quality", label="Technical quality", stage=Stage.QUALITY, function=quality_judge)
