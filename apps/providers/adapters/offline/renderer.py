"""Procedural pictures from a prompt and a seed.

Not AI: words pick a palette and motifs, the seed places shapes. The same request gives the
same pixels, so the same PNG bytes. Rendering is split into steps that each add a layer, which
is what makes the live previews real.
"""

import hashlib
import io
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

MOTIFS = ("circle", "square", "triangle", "line", "wave", "star")
# Words that call up a motif, besides the motif's own name.
MOTIF_WORDS = {
    "circle": {"sun", "moon", "bubble", "planet", "orb", "dot", "round"},
    "square": {"city", "building", "box", "block", "window", "grid"},
    "triangle": {"mountain", "peak", "tree", "forest", "roof", "pyramid"},
    "line": {"rain", "road", "street", "light", "beam", "sketch"},
    "wave": {"sea", "ocean", "river", "water", "wind", "cloud", "hill"},
    "star": {"night", "sky", "space", "galaxy", "spark", "flower"},
}
PREVIEW_EDGE = 256


@dataclass(frozen=True)
class Scene:
    background: tuple[tuple[int, int, int], tuple[int, int, int]]
    palette: tuple[tuple[int, int, int], ...]
    motifs: tuple[str, ...]
    style: str


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return int(r * 255), int(g * 255), int(b * 255)


def _word_hue(word: str) -> float:
    return int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") / 2**32


def scene_for(*, prompt: str, negative_prompt: str, rng: random.Random, style: str) -> Scene:
    words = _words(prompt) or ["darkroom"]
    hues = [_word_hue(w) for w in words]
    palette = tuple(
        _hsv_to_rgb(hues[i % len(hues)], 0.45 + 0.4 * rng.random(), 0.55 + 0.45 * rng.random())
        for i in range(5)
    )
    base_hue = hues[0]
    background = (_hsv_to_rgb(base_hue, 0.6, 0.16), _hsv_to_rgb((base_hue + 0.08) % 1, 0.5, 0.42))
    wanted = [m for m in MOTIFS if m in words or MOTIF_WORDS[m] & set(words)]
    banned = {m for m in MOTIFS if m in _words(negative_prompt) or MOTIF_WORDS[m] & set(_words(negative_prompt))}
    motifs = [m for m in wanted if m not in banned] or [m for m in MOTIFS if m not in banned] or ["line"]
    return Scene(background=background, palette=palette, motifs=tuple(motifs), style=style)


def _gradient(width: int, height: int, top, bottom) -> Image.Image:
    mask = Image.linear_gradient("L").resize((width, height))
    return Image.composite(Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), mask)


def _draw_shape(draw: ImageDraw.ImageDraw, motif: str, rng: random.Random, w: int, h: int, color) -> None:
    alpha = rng.randint(70, 190)
    fill = (*color, alpha)
    cx, cy = rng.random() * w, rng.random() * h
    size = (0.04 + rng.random() * 0.22) * min(w, h)
    if motif == "circle":
        draw.ellipse((cx - size, cy - size, cx + size, cy + size), fill=fill)
    elif motif == "square":
        draw.rectangle((cx - size, cy - size * 1.6, cx + size, cy + size), fill=fill)
    elif motif == "triangle":
        draw.polygon([(cx, cy - size * 1.5), (cx - size, cy + size), (cx + size, cy + size)], fill=fill)
    elif motif == "line":
        angle = rng.random() * math.pi
        dx, dy = math.cos(angle) * size * 3, math.sin(angle) * size * 3
        draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=fill, width=max(1, int(size / 10)))
    elif motif == "wave":
        amplitude, period = size / 3, size * 2
        points = [(x, cy + amplitude * math.sin(x / period * 2 * math.pi)) for x in range(0, w + 16, 16)]
        draw.line(points, fill=fill, width=max(2, int(size / 8)))
    else:  # star
        spikes = [
            (cx + math.cos(a) * r, cy + math.sin(a) * r)
            for k in range(10)
            for a, r in [(k * math.pi / 5 - math.pi / 2, size if k % 2 == 0 else size * 0.45)]
        ]
        draw.polygon(spikes, fill=fill)


def palette_from(images: list[Image.Image], count: int = 5) -> tuple[tuple[int, int, int], ...]:
    """The dominant colours of reference images."""
    strip = Image.new("RGB", (64 * len(images), 64))
    for index, image in enumerate(images):
        strip.paste(image.convert("RGB").resize((64, 64)), (64 * index, 0))
    quantised = strip.quantize(colors=count, method=Image.Quantize.MEDIANCUT)
    flat = quantised.getpalette()[: count * 3]
    return tuple(tuple(flat[i : i + 3]) for i in range(0, len(flat), 3))


def render_steps(
    *, prompt: str, negative_prompt: str, seed: int, width: int, height: int, style: str, steps: int,
    palette: tuple[tuple[int, int, int], ...] | None = None, base: Image.Image | None = None,
) -> Iterator[Image.Image]:
    """Yield the canvas after each of `steps` layers; the last one is the finished picture.

    `palette` replaces the colours the words would pick; `base` is drawn on instead of a gradient."""
    rng = random.Random(hashlib.sha256(f"{style}|{prompt}|{negative_prompt}|{seed}".encode()).digest())
    scene = scene_for(prompt=prompt, negative_prompt=negative_prompt, rng=rng, style=style)
    if palette:
        scene = Scene(background=scene.background, palette=palette, motifs=scene.motifs, style=style)
    canvas = base.convert("RGB").resize((width, height)) if base is not None else _gradient(width, height, *scene.background)
    shapes_per_step = 4 if style == "sketch" else 7
    for step in range(steps):
        draw = ImageDraw.Draw(canvas, "RGBA")
        for _ in range(shapes_per_step):
            motif = scene.motifs[rng.randrange(len(scene.motifs))]
            _draw_shape(draw, motif, rng, width, height, scene.palette[rng.randrange(len(scene.palette))])
        if style == "studio" and step == steps // 2:
            # Soften the lower layers so the later ones read as foreground.
            canvas = canvas.filter(ImageFilter.GaussianBlur(radius=max(1, min(width, height) // 160)))
        yield canvas


def preview_bytes(canvas: Image.Image, *, progress: float) -> bytes:
    """A small, blurred-to-sharp JPEG of the canvas so far."""
    preview = canvas.copy()
    preview.thumbnail((PREVIEW_EDGE, PREVIEW_EDGE))
    blur = (1 - progress) * 6
    if blur > 0.3:
        preview = preview.filter(ImageFilter.GaussianBlur(radius=blur))
    out = io.BytesIO()
    preview.save(out, format="JPEG", quality=70)
    return out.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=4)
    return out.getvalue()
