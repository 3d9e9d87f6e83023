"""Faces drawn on the spot for the face-swap tests: no sample photos ship with the installed
packages, so these are simple portraits that OpenCV's frontal-face cascade does detect (each test
that relies on one checks that it is detected, so a drawing the cascade misses fails loudly)."""

from PIL import Image, ImageDraw, ImageFilter

from tests.media.images import encode


def portrait(width: int = 400, height: int = 400, *, skin=(224, 172, 140), hair=(50, 35, 25),
             background=(90, 120, 160), centre: tuple[int, int] | None = None, scale: float = 1.0) -> Image.Image:
    """A front-facing face: head, hair, eyes with pupils, brows, nose and mouth, lightly blurred."""
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    cx, cy = centre or (width // 2, height // 2)
    s = scale * min(width, height) / 400

    def ellipse(x0, y0, x1, y1, fill):
        draw.ellipse([cx + x0 * s, cy + y0 * s, cx + x1 * s, cy + y1 * s], fill=fill)

    def rectangle(x0, y0, x1, y1, fill):
        draw.rectangle([cx + x0 * s, cy + y0 * s, cx + x1 * s, cy + y1 * s], fill=fill)

    ellipse(-110, -150, 110, 160, skin)
    rectangle(-115, -165, 115, -95, hair)
    ellipse(-75, -55, -25, -25, (255, 255, 255))
    ellipse(25, -55, 75, -25, (255, 255, 255))
    ellipse(-60, -50, -40, -30, (30, 20, 20))
    ellipse(40, -50, 60, -30, (30, 20, 20))
    rectangle(-80, -80, -20, -68, (60, 40, 30))
    rectangle(20, -80, 80, -68, (60, 40, 30))
    draw.polygon([(cx, cy - 20 * s), (cx - 18 * s, cy + 35 * s), (cx + 18 * s, cy + 35 * s)],
                 fill=tuple(max(0, c - 30) for c in skin))
    ellipse(-45, 65, 45, 90, (150, 60, 60))
    return image.filter(ImageFilter.GaussianBlur(2))


def other_face() -> Image.Image:
    """A second, different person: darker skin, lighter hair, on another background."""
    return portrait(360, 360, skin=(150, 100, 70), hair=(200, 170, 90), background=(60, 90, 60))


def portrait_bytes(**kwargs) -> bytes:
    return encode(portrait(**kwargs))


def other_face_bytes() -> bytes:
    return encode(other_face())
