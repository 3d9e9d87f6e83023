"""Prices in credits: per image at a model's size tier, or per second of video.

The quote is computed once, at submit, and stored on the generation; the reservation holds it and
the capture or release moves exactly that amount, whatever the catalogue says later.
"""

DEFAULT_VIDEO_SECONDS = 5
MAX_VIDEO_SECONDS = 60


def video_seconds(tier: dict, duration_seconds: int | None = None) -> int:
    """A clip's length: the one asked for, else the tier's first offered length (`durations`), else 5 s."""
    return duration_seconds or (tier.get("durations") or [DEFAULT_VIDEO_SECONDS])[0]


def price_credits(*, catalog_model, tier: dict, num_images: int, duration_seconds: int | None = None) -> int:
    if catalog_model.kind == "video":
        return tier["price"] * video_seconds(tier, duration_seconds) * num_images
    return tier["price"] * num_images
