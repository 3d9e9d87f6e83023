"""Model outputs drawn on the spot, 1024 px, for the blank check: fine detail that must pass and
flat images that must not."""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZE = 1024
WORDS = "the quick brown fox jumps over the lazy dog while five boxing wizards jump quickly"


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def fine_stripes(size: int = SIZE) -> Image.Image:
    """1 px vertical stripes of two mid greys, like a woven fabric seen close up."""
    row = np.where(np.arange(size) % 2 == 0, 96, 160).astype(np.uint8)
    return Image.fromarray(np.repeat(row[None, :], size, axis=0), "L").convert("RGB")


def small_text(size: int = SIZE) -> Image.Image:
    """A two-line caption in small black type (10 px) on white, like a minimal poster or a label."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(10)
    for line in range(2):
        words = WORDS[40 * line:40 * line + 40]
        draw.text((size * 2 // 5, size // 2 + 16 * line), words, fill=(0, 0, 0), font=font)
    return image


def product_on_white(size: int = SIZE) -> Image.Image:
    """A small shaded bottle (a product shot zoomed out), centred on a pure white background."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    centre, width, height = size // 2, size // 32, size // 12
    draw.ellipse((centre - width, centre + height // 2 - 6, centre + width, centre + height // 2 + 6),
                 fill=(236, 236, 236))
    for offset in range(width // 2):
        shade = 90 + 4 * offset
        draw.rectangle((centre - width // 2 + offset, centre - height // 2, centre + width // 2 - offset,
                        centre + height // 2), fill=(shade, shade // 2, 40))
    draw.rectangle((centre - width // 6, centre - height // 2 - height // 5, centre + width // 6,
                    centre - height // 2), fill=(30, 30, 30))
    return image


def night_sky(size: int = SIZE, stars: int = 12) -> Image.Image:
    """Black, with a few tiny stars: single bright pixels and a few 2×2 ones."""
    pixels = np.zeros((size, size, 3), np.uint8)
    rng = _rng(7)
    for index, (y, x) in enumerate(rng.integers(8, size - 8, (stars, 2))):
        level = int(rng.integers(150, 256))
        extent = 2 if index % 4 == 0 else 1
        pixels[y:y + extent, x:x + extent] = (level, level, min(255, level + 20))
    return Image.fromarray(pixels, "RGB")


def smooth_gradient(size: int = SIZE) -> Image.Image:
    """A soft sky: dark blue at the top to pale at the bottom, a level or less from pixel to pixel."""
    ramp = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    pixels = np.array([20, 40, 90], np.float32) + ramp * np.array([200, 190, 150], np.float32)
    return Image.fromarray(np.repeat(pixels, size, axis=1).astype(np.uint8), "RGB")


def flat(level: int | tuple[int, int, int], size: int = SIZE) -> Image.Image:
    """One colour: white (a blank canvas), grey, black."""
    colour = (level, level, level) if isinstance(level, int) else level
    return Image.new("RGB", (size, size), colour)


def near_uniform(level: int = 128, size: int = SIZE) -> Image.Image:
    """A flat grey with JPEG-like noise: each pixel off by at most one level, half of them by their
    8×8 block's offset and half on their own."""
    rng = _rng(3)
    blocks = np.repeat(np.repeat(rng.integers(-1, 2, (size // 8, size // 8, 1)), 8, axis=0), 8, axis=1)
    own = rng.integers(-1, 2, (size, size, 3))
    noise = np.where(rng.random((size, size, 1)) < 0.5, blocks, own)
    return Image.fromarray((level + noise).astype(np.uint8), "RGB")


def dark_noise(size: int = SIZE) -> Image.Image:
    """Almost black: most pixels 0, the rest dim noise up to level 20, nothing one could make out."""
    rng = _rng(5)
    levels = np.where(rng.random((size, size)) < 0.3, rng.integers(0, 21, (size, size)), 0)
    return Image.fromarray(levels.astype(np.uint8), "L").convert("RGB")
