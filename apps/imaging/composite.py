"""Placing a cut-out subject on a backdrop image or a plain colour."""

from PIL import Image


def composite_onto(
    subject: Image.Image, *, backdrop: Image.Image | None, colour: str, padding: float
) -> Image.Image:
    """The subject (its transparency as the mask) centred on a backdrop image or a plain colour,
    with `padding` per cent of the long edge around it. Opaque RGB out."""
    rgba = subject.convert("RGBA")
    if backdrop is None:
        pad = round(max(rgba.size) * padding / 100)
        canvas = Image.new("RGB", (rgba.width + 2 * pad, rgba.height + 2 * pad), colour)
        canvas.paste(rgba, (pad, pad), rgba)
        return canvas
    canvas = backdrop.convert("RGB")
    pad = round(max(canvas.size) * padding / 100)
    box_w, box_h = max(1, canvas.width - 2 * pad), max(1, canvas.height - 2 * pad)
    scale = min(box_w / rgba.width, box_h / rgba.height)
    size = (max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale)))
    fitted = rgba.resize(size, Image.Resampling.LANCZOS)
    canvas.paste(fitted, ((canvas.width - fitted.width) // 2, (canvas.height - fitted.height) // 2), fitted)
    return canvas
