"""Scoring an image by one measure, to rank several: sharpness, contrast, colourfulness or resolution."""

import cv2
import numpy as np
from PIL import Image


def image_score(image: Image.Image, method: str) -> float:
    """Higher is better. Measured on a copy at most 512 px across, except resolution."""
    if method == "resolution":
        return float(image.width * image.height)
    small = image.convert("RGB")
    small.thumbnail((512, 512))
    rgb = np.asarray(small, dtype=np.float32)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if method == "sharpness":
        return float(cv2.Laplacian(grey, cv2.CV_32F).var())
    if method == "contrast":
        return float(grey.std())
    # Colourfulness (Hasler & Süsstrunk, 2003).
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
