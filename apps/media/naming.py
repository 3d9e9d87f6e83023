"""Names for photos made from other photos: the source's name and what was done to it
("bottle – background removed – upscaled 2×"), so the library and the pickers say what each is."""

MAX_NAME = 200
SEPARATOR = " – "


def _what(operation: str, params: dict) -> str:
    params = params or {}
    if operation == "remove_background":
        return "background removed"
    if operation == "upscale":
        return f"upscaled {params.get('factor', 2)}×"
    if operation == "color":
        return "colour corrected"
    if operation == "crop":
        return f"cropped to {params.get('aspect')}"
    if operation == "resize":
        return f"resized to {params.get('long_edge')} px"
    if operation == "convert":
        return f"as {str(params.get('format', '')).upper().replace('WEBP', 'WebP')}"
    if operation == "resize_crop":
        parts = []
        if params.get("aspect") not in (None, "", "keep"):
            parts.append(f"cropped to {params['aspect']}")
        if params.get("long_edge"):
            parts.append(f"{params['long_edge']} px")
        return ", ".join(parts) or "resized"
    if operation == "composite":
        return "on a backdrop"
    return operation.replace("_", " ")


def _base(name: str) -> str:
    """The name without a file extension ("bottle.png" → "bottle")."""
    stem, dot, extension = name.rpartition(".")
    if dot and stem and extension.isalnum() and len(extension) <= 5 and SEPARATOR not in extension:
        return stem
    return name


def derived_name(source_name: str, operation: str, params: dict | None = None, *, fallback: str = "Photo") -> str:
    base = _base((source_name or "").strip()) or fallback
    what = _what(operation, params or {})
    if len(base) + len(SEPARATOR) + len(what) > MAX_NAME:
        base = base[: max(1, MAX_NAME - len(SEPARATOR) - len(what) - 1)] + "…"
    return f"{base}{SEPARATOR}{what}"
