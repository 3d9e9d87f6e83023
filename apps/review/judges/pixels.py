"""Pixel helpers shared by the offline judges (numpy and OpenCV, CPU only)."""

import cv2
import numpy as np
from PIL import Image

# The judges that compare or measure structure work at this long edge: detail that matters to a
# viewer survives it, and it keeps a 1024² review within its time budget.
WORK_EDGE = 512


def grey(image: Image.Image, *, edge: int | None = WORK_EDGE) -> np.ndarray:
    """The image as float32 grey levels 0..255, shrunk (area-averaged) to `edge` if larger."""
    array = np.asarray(image.convert("L"), dtype=np.uint8)
    if edge and max(array.shape) > edge:
        scale = edge / max(array.shape)
        size = (max(1, round(array.shape[1] * scale)), max(1, round(array.shape[0] * scale)))
        array = cv2.resize(array, size, interpolation=cv2.INTER_AREA)
    return array.astype(np.float32)


def resized_grey(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Grey levels at exactly `size` (width, height)."""
    array = np.asarray(image.convert("L"), dtype=np.uint8)
    if (array.shape[1], array.shape[0]) != size:
        array = cv2.resize(array, size, interpolation=cv2.INTER_AREA)
    return array.astype(np.float32)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Structural similarity per pixel (Wang et al. 2004, Gaussian window σ = 1.5)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def noise_sigma(values: np.ndarray) -> float:
    """Noise standard deviation in grey levels, from the finest diagonal wavelet band: the median
    absolute Haar HH coefficient over 0.6745 (Donoho's estimator), which edges barely move."""
    h, w = values.shape[0] // 2 * 2, values.shape[1] // 2 * 2
    v = values[:h, :w]
    hh = (v[0::2, 0::2] - v[0::2, 1::2] - v[1::2, 0::2] + v[1::2, 1::2]) / 2.0
    return float(np.median(np.abs(hh)) / 0.6745)
