"""The catalogue as the public sees it (API, /models pages, /llms.txt): slug, label,
description, capabilities, sizes and prices, never routes or providers."""

from .models import CatalogModel, dimensions_for
from .selectors import catalog_model_availability


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
        "capabilities": model.capabilities, "parameters": model_parameters_schema(model),
    }


def model_parameters_schema(model) -> dict:
    """What POST /generations accepts for this model, as JSON Schema."""
    uuid = {"type": "string", "format": "uuid"}
    properties = {
        "model": {"const": model.slug},
        "prompt": {"type": "string", "maxLength": 2000, **({"minLength": 1} if not model.needs_image else {})},
        "aspect_ratio": {"enum": model.aspect_ratios, "default": model.default_aspect_ratio},
        "tier": {"enum": [tier["key"] for tier in model.tiers], "default": model.tiers[0]["key"] if model.tiers else None},
        "num_images": {"type": "integer", "minimum": 1, "maximum": model.max_images, "default": 1},
    }
    if model.supports_negative_prompt:
        properties["negative_prompt"] = {"type": "string", "maxLength": 2000}
    if model.supports_seed:
        properties["seed"] = {"type": ["integer", "string"], "description": "0 to 2**64-1; random if omitted."}
    if {"image-to-image", "inpaint", "upscale", "remove-background", "image-to-video"} & set(model.capabilities):
        properties["image_upload_id"] = uuid | {"description": "A photo from POST /uploads."}
    if model.kind == CatalogModel.Kind.VIDEO:
        durations = sorted({d for tier in model.tiers for d in tier.get("durations", [])})
        properties["duration_seconds"] = (
            {"enum": durations, "default": durations[0]} if durations else {"type": "integer", "minimum": 1, "maximum": 60}
        ) | {"description": "The clip's length in seconds; priced per second."}
    if model.can("inpaint"):
        properties["mask_upload_id"] = uuid | {"description": "A mask of that photo: white is repainted."}
    if model.can("reference"):
        properties["reference_upload_ids"] = {"type": "array", "items": uuid, "maxItems": 4}
    if model.can("image-to-image"):
        properties["strength"] = {"type": "number", "exclusiveMinimum": 0, "maximum": 1}
    required = ["model", "image_upload_id"] if model.needs_image else ["model", "prompt"]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
