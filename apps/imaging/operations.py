"""Local image operations: pure functions, a Pillow image in, a new Pillow image out.

No network and no model weights: each is a classical algorithm, named for what it is.
`OPERATIONS` lists them with their parameters for the edit page, the API and workflow nodes;
`apps.media.services.upload_apply_operation` runs one on an upload and stores the result.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import cv2
import numpy as np
from PIL import Image, ImageChops, ImageFilter, ImageOps

from apps.core.registry import Registry

LANCZOS = Image.Resampling.LANCZOS


class OperationError(ValueError):
    """The operation cannot produce a meaningful result for this image."""


def _has_alpha(image: Image.Image) -> bool:
    return "A" in image.getbands()


def _split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """(colour part, alpha or None): operations change colour and leave transparency alone."""
    if image.mode == "RGBA":
        return image.convert("RGB"), image.getchannel("A")
    if image.mode == "LA":
        return image.convert("L"), image.getchannel("A")
    if image.mode in ("RGB", "L"):
        return image, None
    converted = image.convert("RGBA")
    return converted.convert("RGB"), converted.getchannel("A")


def _join_alpha(image: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None:
        return image
    out = image.convert("RGBA")
    out.putalpha(alpha)
    return out


# ---------------------------------------------------------------- geometry


def parse_aspect(aspect: str | tuple[int, int]) -> Fraction:
    """ "16:9" or (16, 9) → Fraction(16, 9)."""
    try:
        w, h = (int(part) for part in (aspect.split(":") if isinstance(aspect, str) else aspect))
    except (ValueError, TypeError):
        raise OperationError(f"not an aspect ratio: {aspect!r}") from None
    if w <= 0 or h <= 0:
        raise OperationError(f"not an aspect ratio: {aspect!r}")
    return Fraction(w, h)


def crop_box_for_aspect(size: tuple[int, int], aspect: str | tuple[int, int]) -> tuple[int, int, int, int]:
    """The largest centred box of that aspect ratio inside `size`."""
    width, height = size
    ratio = parse_aspect(aspect)
    if Fraction(width, height) > ratio:  # too wide: trim the sides
        new_w, new_h = max(1, round(height * ratio)), height
    else:  # too tall: trim top and bottom
        new_w, new_h = width, max(1, round(width / ratio))
    left, top = (width - new_w) // 2, (height - new_h) // 2
    return left, top, left + new_w, top + new_h


def crop_to_aspect(image: Image.Image, aspect: str | tuple[int, int]) -> Image.Image:
    """Centre crop to an aspect ratio, keeping as many pixels as possible."""
    return image.crop(crop_box_for_aspect(image.size, aspect))


def resize_long_edge(image: Image.Image, long_edge: int) -> Image.Image:
    """Scale (Lanczos) so the longer side is `long_edge` pixels, keeping the aspect ratio."""
    if long_edge < 1:
        raise OperationError("the long edge must be at least 1 pixel")
    scale = long_edge / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, LANCZOS) if size != image.size else image.copy()


def resize_and_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    """Exactly width×height: centre crop to the aspect ratio, then Lanczos."""
    return ImageOps.fit(image, (width, height), method=LANCZOS, centering=(0.5, 0.5))


def upscale(image: Image.Image, factor: int = 2) -> Image.Image:
    """Lanczos to `factor`× the size, then an unsharp mask to restore edge contrast.

    Classical resampling: it adds pixels, not detail. The mask's radius follows the factor so the
    sharpening works at the scale of the original pixels.
    """
    if factor not in (2, 3, 4):
        raise OperationError("the upscale factor must be 2, 3 or 4")
    colour, alpha = _split_alpha(image)
    size = (image.width * factor, image.height * factor)
    big = colour.resize(size, LANCZOS)
    big = big.filter(ImageFilter.UnsharpMask(radius=0.6 * factor, percent=70, threshold=2))
    return _join_alpha(big, alpha.resize(size, LANCZOS) if alpha is not None else None)


# ---------------------------------------------------------------- colour


def _histogram_percentile(histogram: list[int], percent: float) -> int:
    """The smallest level at or below which `percent` % of the pixels lie (one 256-bin channel)."""
    total = sum(histogram)
    if total == 0:
        return 0
    target = total * percent / 100
    running = 0
    for level, count in enumerate(histogram):
        running += count
        if running >= target:
            return level
    return 255


def _lut(gain: float, offset: float = 0.0) -> list[int]:
    return [min(255, max(0, round(level * gain + offset))) for level in range(256)]


def white_balance(image: Image.Image, method: str = "grey_world", *, percentile: float = 99.0) -> Image.Image:
    """Automatic white balance by per-channel gains.

    grey_world: scale each channel so its mean equals the mean of the three (a scene averages
    to grey). white_patch: scale each channel so its `percentile` level becomes white (the
    brightest thing in the scene is white); a percentile rather than the max ignores hot pixels.
    Greyscale images are returned unchanged.
    """
    colour, alpha = _split_alpha(image)
    if colour.mode != "RGB":
        return image.copy()
    channels = colour.split()
    if method == "grey_world":
        means = [float(np.asarray(channel, dtype=np.float32).mean()) for channel in channels]
        grey = sum(means) / 3
        gains = [grey / mean if mean > 0.5 else 1.0 for mean in means]
    elif method == "white_patch":
        levels = [_histogram_percentile(channel.histogram(), percentile) for channel in channels]
        gains = [255 / level if level > 0 else 1.0 for level in levels]
    else:
        raise OperationError(f"unknown white balance method {method!r}")
    # Guard against a cast so strong that correcting it would blow a channel out entirely.
    gains = [min(4.0, max(0.25, gain)) for gain in gains]
    balanced = colour.point(_lut(gains[0]) + _lut(gains[1]) + _lut(gains[2]))
    return _join_alpha(balanced, alpha)


def auto_levels(image: Image.Image, *, clip_low: float = 0.5, clip_high: float = 0.5) -> Image.Image:
    """Auto-contrast: stretch luminance so the darkest `clip_low` % of pixels go black and the
    brightest `clip_high` % go white. One curve for all channels, so hues are kept."""
    colour, alpha = _split_alpha(image)
    luminance = colour.convert("L")
    histogram = luminance.histogram()
    low = _histogram_percentile(histogram, clip_low)
    high = _histogram_percentile(histogram, 100 - clip_high)
    if high - low < 2:  # flat image: nothing to stretch
        return image.copy()
    gain = 255 / (high - low)
    lut = _lut(gain, -low * gain)
    stretched = colour.point(lut * len(colour.getbands()))
    return _join_alpha(stretched, alpha)


def color_correct(
    image: Image.Image,
    *,
    white_balance_method: str = "grey_world",
    clip_low: float = 0.5,
    clip_high: float = 0.5,
) -> Image.Image:
    """White balance, then levels. `white_balance_method` may be "none" for levels alone."""
    balanced = image if white_balance_method == "none" else white_balance(image, white_balance_method)
    return auto_levels(balanced, clip_low=clip_low, clip_high=clip_high)


# ---------------------------------------------------------------- background removal


def remove_background_grabcut(
    image: Image.Image,
    *,
    margin: float = 0.06,
    iterations: int = 4,
    work_edge: int = 320,
    feather: float = 0.004,
) -> Image.Image:
    """Background removal with OpenCV's GrabCut (Rother et al., 2004), returned as RGBA.

    GrabCut models foreground and background colours as Gaussian mixtures and cuts the pixel
    graph between them. It is initialised with a centred rectangle (`margin` of each side is
    taken as sure background), so it suits a subject in the middle of the frame. It runs on a
    copy at most `work_edge` px long (its cost grows with area); the mask is scaled back up and
    feathered with a Gaussian blur of `feather` × the long edge, so the edge is soft rather than
    blocky. Pixels keep their colour; only the alpha changes.
    """
    rgb = image.convert("RGB")
    scale = min(1.0, work_edge / max(rgb.size))
    small = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), LANCZOS)
    sw, sh = small.size
    if sw < 8 or sh < 8:
        raise OperationError("the image is too small to find a subject in")
    mx, my = max(1, round(sw * margin)), max(1, round(sh * margin))
    rect = (mx, my, sw - 2 * mx, sh - 2 * my)
    pixels = cv2.cvtColor(np.asarray(small), cv2.COLOR_RGB2BGR)
    mask = np.zeros((sh, sw), np.uint8)
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means start is random; make results repeatable
    try:
        cv2.grabCut(pixels, mask, rect, background_model, foreground_model, iterations, cv2.GC_INIT_WITH_RECT)
    except cv2.error as error:
        raise OperationError("GrabCut could not separate a subject") from error
    foreground = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    # Remove specks and fill pinholes before scaling up.
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    foreground = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, kernel)
    foreground = cv2.morphologyEx(foreground, cv2.MORPH_CLOSE, kernel)
    if not foreground.any():
        raise OperationError("GrabCut found no subject")
    alpha = Image.fromarray(foreground, "L").resize(rgb.size, Image.Resampling.BILINEAR)
    radius = max(1.0, feather * max(rgb.size))
    alpha = alpha.filter(ImageFilter.GaussianBlur(radius))
    if _has_alpha(image):
        alpha = ImageChops.multiply(alpha, image.convert("RGBA").getchannel("A"))
    out = rgb.convert("RGBA")
    out.putalpha(alpha)
    return out


# ---------------------------------------------------------------- format


FORMATS = ("PNG", "JPEG", "WEBP")


def convert_for_format(image: Image.Image, fmt: str) -> Image.Image:
    """The image as it will be written in `fmt`: JPEG has no transparency, so it goes onto white."""
    fmt = fmt.upper()
    if fmt not in FORMATS:
        raise OperationError(f"unknown format {fmt!r}")
    if fmt == "JPEG" and _has_alpha(image):
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return flat
    return image.copy()


# ---------------------------------------------------------------- the catalogue of operations


@dataclass(frozen=True)
class Choice:
    value: str | int
    label: str


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    choices: tuple[Choice, ...]
    initial: str | int | None = None  # the default; the first choice if None

    @property
    def default(self):
        return self.initial if self.initial is not None else self.choices[0].value

    def clean(self, raw):
        if raw is None or raw == "":
            return self.default
        for choice in self.choices:
            if str(choice.value) == str(raw):
                return choice.value
        raise OperationError(f"{self.label}: not one of the choices")


@dataclass(frozen=True)
class Operation:
    """A named operation with its parameters, for pages, the API and workflow nodes."""

    key: str
    label: str
    description: str
    apply: Callable[..., Image.Image]
    params: tuple[Param, ...] = ()
    # The stored format of the result, from the source's format and the parameters.
    output_format: Callable[[str, dict], str] = field(default=lambda source_format, params: source_format)
    # The result's size before running it, so an oversized result is refused up front.
    output_size: Callable[[tuple[int, int], dict], tuple[int, int]] = field(default=lambda size, params: size)

    def clean(self, raw: dict | None) -> dict:
        raw = raw or {}
        unknown = set(raw) - {param.name for param in self.params}
        if unknown:
            raise OperationError(f"unknown setting {min(unknown)!r}")
        return {param.name: param.clean(raw.get(param.name)) for param in self.params}

    def run(self, image: Image.Image, params: dict) -> Image.Image:
        return self.apply(image, **self.clean(params))


OPERATIONS: Registry[Operation] = Registry("image operation")


def _register(operation: Operation) -> Operation:
    return OPERATIONS.register(operation.key)(operation)


def _upscaled_size(size, params):
    return size[0] * params["factor"], size[1] * params["factor"]


def _resized_size(size, params):
    scale = params["long_edge"] / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _cropped_size(size, params):
    left, top, right, bottom = crop_box_for_aspect(size, params["aspect"])
    return right - left, bottom - top


_register(
    Operation(
        key="crop",
        label="Crop to aspect ratio",
        description="Centre crop, keeping as much of the photo as fits.",
        apply=lambda image, aspect: crop_to_aspect(image, aspect),
        params=(
            Param(
                "aspect",
                "Aspect ratio",
                tuple(Choice(r, r) for r in ("1:1", "4:5", "3:2", "2:3", "16:9", "9:16")),
            ),
        ),
        output_size=_cropped_size,
    )
)
_register(
    Operation(
        key="resize",
        label="Resize",
        description="Scale so the long edge is this many pixels (Lanczos).",
        apply=lambda image, long_edge: resize_long_edge(image, long_edge),
        params=(
            Param(
                "long_edge",
                "Long edge",
                tuple(Choice(n, f"{n} px") for n in (512, 1024, 1536, 2048)),
                initial=1024,
            ),
        ),
        output_size=_resized_size,
    )
)
_register(
    Operation(
        key="upscale",
        label="Upscale",
        description="Lanczos resampling plus an unsharp mask. Adds pixels, not detail.",
        apply=lambda image, factor: upscale(image, factor),
        params=(Param("factor", "Factor", (Choice(2, "2×"), Choice(4, "4×"))),),
        output_size=_upscaled_size,
    )
)
_register(
    Operation(
        key="color",
        label="Colour correction",
        description="Automatic white balance, then levels with 0.5 % clipped at each end.",
        apply=lambda image, white_balance: color_correct(image, white_balance_method=white_balance),
        params=(
            Param(
                "white_balance",
                "White balance",
                (
                    Choice("grey_world", "Grey world"),
                    Choice("white_patch", "White patch"),
                    Choice("none", "Levels only"),
                ),
            ),
        ),
    )
)
_register(
    Operation(
        key="remove_background",
        label="Remove background (GrabCut)",
        description="OpenCV GrabCut from a centred rectangle, with a feathered edge. Best with a centred subject.",
        apply=lambda image: remove_background_grabcut(image),
        output_format=lambda source_format, params: "PNG",
    )
)
_register(
    Operation(
        key="convert",
        label="Convert format",
        description="Re-encode as PNG, JPEG or WebP (JPEG goes onto white).",
        apply=lambda image, format: convert_for_format(image, format),
        params=(
            Param("format", "Format", (Choice("PNG", "PNG"), Choice("JPEG", "JPEG"), Choice("WEBP", "WebP"))),
        ),
        output_format=lambda source_format, params: params["format"],
    )
)
