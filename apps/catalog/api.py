from ninja import Router, Schema

from .models import dimensions_for
from .selectors import catalog_model_availability, catalog_model_list

router = Router(tags=["models"])


class TierOut(Schema):
    key: str
    label: str
    width: int
    height: int
    price_per_image: int


class ModelOut(Schema):
    slug: str
    label: str
    description: str
    kind: str
    available: bool
    unavailable_reason: str | None
    aspect_ratios: list[str]
    max_images: int
    supports_negative_prompt: bool
    supports_seed: bool
    tiers: list[TierOut]


def model_out(model) -> dict:
    availability = catalog_model_availability(model)
    square = "1:1" if "1:1" in model.aspect_ratios else model.default_aspect_ratio
    return {
        "slug": model.slug, "label": model.label, "description": model.description, "kind": model.kind,
        "available": availability.available, "unavailable_reason": availability.reason or None,
        "aspect_ratios": model.aspect_ratios, "max_images": model.max_images,
        "supports_negative_prompt": model.supports_negative_prompt, "supports_seed": model.supports_seed,
        "tiers": [
            {
                "key": tier["key"], "label": tier["label"], "price_per_image": tier["price"],
                **dict(zip(("width", "height"), dimensions_for(aspect_ratio=square, area=tier["area"]))),
            }
            for tier in model.tiers
        ],
    }


@router.get("/models", response=list[ModelOut], summary="List the model catalogue")
def model_list(request):
    """Every model, with what it accepts and its price per image for each size (at its squarest ratio)."""
    return [model_out(model) for model in catalog_model_list()]
