"""The one quote: what a request costs in credits, from the catalogue.

Every surface that shows or holds a price calls `quote`: the generate form, the API's quote and
submit endpoints, batches, workflow steps and the OpenAI-compatible endpoint. The quote is computed
once at submit and stored on the generation; the hold, capture and release move exactly that amount,
whatever the catalogue says later.
"""

from apps.core.exceptions import ApplicationError

DEFAULT_VIDEO_SECONDS = 5
MAX_VIDEO_SECONDS = 60


class UnknownTierError(ApplicationError):
    code = "invalid_request"
    http_status = 422
    default_message = "Choose one of the sizes this model offers."


def video_seconds(tier: dict, duration_seconds: int | None = None) -> int:
    """A clip's length: the one asked for, else the tier's first offered length (`durations`), else 5 s."""
    return duration_seconds or (tier.get("durations") or [DEFAULT_VIDEO_SECONDS])[0]


def tier_price(*, catalog_model, tier: dict, num_images: int, duration_seconds: int | None = None) -> int:
    """The price at an already chosen tier: per image, or per second of video."""
    if catalog_model.kind == "video":
        return tier["price"] * video_seconds(tier, duration_seconds) * num_images
    return tier["price"] * num_images


def quote(*, catalog_model, tier: str | None = None, num_images: int = 1, duration_seconds: int | None = None,
          fees: int = 0) -> int:
    """Credits for `num_images` images (or clips of `duration_seconds`) at the size `tier` (the
    model's first when None), plus any `fees` a later feature adds (a creator's fee, say)."""
    chosen = catalog_model.tier(tier)
    if chosen is None:
        raise UnknownTierError(extra={"field": "tier"})
    return tier_price(catalog_model=catalog_model, tier=chosen, num_images=num_images,
                      duration_seconds=duration_seconds) + fees
