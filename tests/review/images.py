"""Images the review tests draw: textured, blurred, noisy, dark; edits that did or did not change
the masked area; clean and ragged cut-outs."""

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def textured(size: int = 1024, seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), (120, 150, 190))
    draw = ImageDraw.Draw(image)
    scale = size / 1024
    for _ in range(60):
        x, y = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(20, 160) * scale) + 2
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    for x in range(0, size, max(4, int(16 * scale))):
        draw.line([(x, 0), (x, size // 4)], fill=(20, 20, 20), width=2)
    return image


def blurred(image: Image.Image, radius: float = 6) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))


def noisy(image: Image.Image, sigma: float = 20, seed: int = 2) -> Image.Image:
    array = np.asarray(image, dtype=np.float32)
    array = array + np.random.default_rng(seed).normal(0, sigma, array.shape)
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def darkened(image: Image.Image, factor: float = 0.05) -> Image.Image:
    return Image.fromarray((np.asarray(image, dtype=np.float32) * factor).astype(np.uint8))


def centre_mask(size: tuple[int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    w, h = size
    ImageDraw.Draw(mask).rectangle([w // 4, h // 4, 3 * w // 4, 3 * h // 4], fill=255)
    return mask


def repaint(image: Image.Image, mask: Image.Image, colour=(230, 40, 40)) -> Image.Image:
    """The image with the masked area painted over."""
    return Image.composite(Image.new("RGB", image.size, colour), image, mask)


def cutout(image: Image.Image, *, soft: bool = False) -> Image.Image:
    """A subject in the centre, background transparent; `soft`: a ragged, half-transparent matte."""
    alpha = np.zeros((image.height, image.width), dtype=np.uint8)
    alpha[image.height // 4: 3 * image.height // 4, image.width // 4: 3 * image.width // 4] = 255
    if soft:
        alpha = np.where(alpha == 255, 255, 120).astype(np.uint8)
        alpha[: image.height // 8] = 0
    rgba = image.convert("RGBA")
    rgba.putalpha(Image.fromarray(alpha))
    return rgba
