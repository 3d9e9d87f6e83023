"""Public pages of the catalogue (no login): /models, /models/<slug>, /pricing and /llms.txt."""

import json

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.core.exceptions import NotFoundError
from apps.credits.selectors import credits_packages_for_sale

from .public import model_out
from .selectors import catalog_model_get, catalog_model_list


@require_GET
def model_list_view(request):
    models = [(model, model_out(model)) for model in catalog_model_list()]
    return render(request, "catalog/models.html", {"models": models})


@require_GET
def model_detail_view(request, slug: str):
    model = catalog_model_get(slug=slug)
    if model is None:
        raise NotFoundError("No model has this name.")
    return render(request, "catalog/model.html", {"model": model, "out": model_out(model)})


@require_GET
def pricing_view(request):
    models = [(model, model_out(model)) for model in catalog_model_list()]
    return render(request, "catalog/pricing.html", {"models": models, "packages": credits_packages_for_sale()})


@require_GET
def llms_txt_view(request):
    """Every model and the JSON Schema of its input, for language models and their tools."""
    base = settings.SITE_URL
    lines = [
        "# Darkroom", "",
        "> A self-hosted image studio: many image and video models behind one API. Prices are in credits.", "",
        f"- API reference (OpenAPI): {base}/api/v1/docs",
        f"- Model list as JSON, no key needed: {base}/api/v1/models",
        f"- Generate: POST {base}/api/v1/generations with `Authorization: Bearer <API key>` and a body matching "
        "the model's schema below",
        f"- OpenAI-compatible images endpoint: {base}/v1/images/generations",
        f"- Public gallery: {base}/explore · prices: {base}/pricing", "", "## Models", "",
    ]
    for model in catalog_model_list():
        out = model_out(model)
        unit = "second of video" if model.kind == "video" else "image"
        prices = ", ".join(f"{t['label']} {t['width']}×{t['height']} {t['price_per_image']} credits per {unit}"
                           for t in out["tiers"])
        lines += [
            f"### {model.label} (`{model.slug}`)", "",
            *( [model.description, ""] if model.description else [] ),
            f"- Kind: {model.kind}; capabilities: {', '.join(model.capabilities) or 'none'}",
            f"- Aspect ratios: {', '.join(model.aspect_ratios) or '1:1'}; up to {model.max_images} per request",
            f"- Sizes and prices: {prices or 'not priced'}",
            f"- Available now: {'yes' if out['available'] else 'no'}",
            f"- Page: {base}/models/{model.slug}", "",
            "Input schema:", "", "```json", json.dumps(out["parameters"], indent=2), "```", "",
        ]
    response = HttpResponse("\n".join(lines), content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    return response
