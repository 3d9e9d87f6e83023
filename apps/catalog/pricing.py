"""The one quote: what a request costs in credits, from the catalogue.

Every surface that shows or holds a price calls `quote`: the generate form, the API's quote and
submit endpoints, batches, workflow steps and the OpenAI-compatible endpoint. The quote is computed
once at submit and stored on the generation; the hold, capture and release move exactly that amount,
whatever the catalogue says later.
"""

import math

from django.conf import settings

from apps.core.exceptions import ApplicationError

DEFAULT_VIDEO_SECONDS = 5
MEGAPIXEL = 1_000_000
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


# ---------------------------------------------------------------- provider costs and the margin
#
# A route may carry its provider's list price: `cost = { unit = "image" | "megapixel" | "second",
# usd = … }`. A tier with no `price` of its own is priced from the dearest route that can run it,
# so a fallback to any route in the chain never costs more than the quote covers. Prices are
# credits per image (per second of video), as the tiers' own.


def route_unit_cost_usd(route: dict, *, tier: dict) -> float | None:
    """A route's dollar cost for one image (one second of video) at `tier`; None when unknown."""
    cost = route.get("cost")
    if not isinstance(cost, dict) or not isinstance(cost.get("usd"), int | float):
        return None
    match cost.get("unit"):
        case "image" | "second":
            return float(cost["usd"])
        case "megapixel":
            return float(cost["usd"]) * max(tier.get("area") or MEGAPIXEL, MEGAPIXEL) / MEGAPIXEL
    return None


def price_from_cost(routes: list[dict], *, tier: dict) -> int | None:
    """Credits per image (per second) covering the dearest priced route, with the margin."""
    costs = [c for c in (route_unit_cost_usd(route, tier=tier) for route in routes) if c is not None]
    if not costs:
        return None
    credits = max(costs) * (1 + settings.CREDIT_MARGIN) / settings.CREDIT_VALUE_USD
    return max(1, math.ceil(round(credits, 6)))


def tiers_priced(routes: list[dict], tiers: list[dict]) -> list[dict]:
    """The tiers with a price each: their own, else one from their routes' cost (catalog_load)."""
    priced = []
    for tier in tiers:
        if tier.get("price") is None:
            price = price_from_cost(routes, tier=tier)
            if price is None:
                raise ValueError(f"tier {tier.get('key')!r} has no price and no route has a cost")
            tier = {**tier, "price": price}
        priced.append(tier)
    return priced
