"""What a call costs us at the provider, in US dollars, from the route's `cost` in the catalogue:
{unit: "image" | "megapixel" | "second", usd: dollars per unit}. Routes without one cost nothing
(the offline engine, your own ComfyUI server). The figures are estimates from providers' public
price lists; the provider's invoice is the truth."""

from decimal import Decimal

from .types import GenerationRequest, Route

USD_PLACES = Decimal("0.000001")
DEFAULT_VIDEO_SECONDS = 5
MEGAPIXEL = Decimal(1_000_000)


def request_cost_usd(route: Route, request: GenerationRequest) -> Decimal | None:
    """The estimated price of one billed call for `request` on `route`, or None when the route has no cost."""
    cost = route.options.get("cost")
    if not cost:
        return None
    usd = Decimal(str(cost["usd"]))
    images = max(1, request.num_images)
    match cost["unit"]:
        case "image":
            total = usd * images
        case "megapixel":
            total = usd * Decimal(request.width * request.height) / MEGAPIXEL * images
        case "second":
            total = usd * (request.duration_seconds or DEFAULT_VIDEO_SECONDS) * images
        case _:
            return None
    return total.quantize(USD_PLACES)
