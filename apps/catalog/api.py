from ninja import Field, Router, Schema

from apps.core.exceptions import NotFoundError

from .public import model_out
from .selectors import catalog_model_get, catalog_model_list

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
    capabilities: list[str] = Field(
        description="text-to-image, image-to-image, inpaint, reference, upscale, remove-background."
    )
    parameters: dict = Field(description="JSON Schema of a POST /generations body for this model.")


@router.get("/models", response=list[ModelOut], summary="List the model catalogue", auth=None)
def model_list(request):
    """Every model, with what it accepts and its price per image for each size (at its squarest ratio).
    Public: no API key needed."""
    return [model_out(model) for model in catalog_model_list()]


@router.get("/models/{slug}", response=ModelOut, summary="Get one model", auth=None)
def model_get(request, slug: str):
    """One model: capabilities, the JSON Schema of its generation parameters, sizes and prices.
    Public: no API key needed."""
    model = catalog_model_get(slug=slug)
    if model is None:
        raise NotFoundError("Model not found.")
    return model_out(model)
