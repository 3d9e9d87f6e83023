"""Prices in credits: per image at a model's size tier, or per second of video.

The quote is computed once, at submit, and stored on the generation; the reservation holds it and
the capture or release moves exactly that amount, whatever the catalogue says later.
"""

DEFAULT_VIDEO_SECONDS = 5
MAX_VIDEO_SECONDS = 60


def price_credits(*, catalog_model, tier: dict, num_images: int, duration_seconds: int | None = None) -> int:
    if catalog_model.kind == "video":
        seconds = duration_seconds or DEFAULT_VIDEO_SECONDS
        return tier["price"] * seconds * num_images
    return tier["price"] * num_images
