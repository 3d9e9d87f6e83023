"""How library items are named and shown (download names, the Generate form's fields)."""

from urllib.parse import urlencode

from django.urls import reverse

from .selectors import LibraryItem


def item_download_name(item: LibraryItem) -> str:
    from .services.export import download_name

    extension = item.file.rsplit(".", 1)[-1].lower() if "." in item.file else "png"
    if item.generation is not None:
        short = f"{str(item.generation.id)[:8]}-{item.extra['image'].index + 1}"
        return download_name(item.prompt, short, extension)
    return download_name(item.prompt.rsplit(".", 1)[0], item.ref.id[:8], extension)


def use_settings_url(generation) -> str:
    """The Generate page, filled in with what this generation asked for (its seed too)."""
    params = generation.params
    fields = {
        "model": generation.catalog_model.slug, "prompt": generation.prompt,
        "negative_prompt": generation.negative_prompt, "aspect_ratio": params.get("aspect_ratio", ""),
        "tier": params.get("tier", ""), "num_images": params.get("num_images", 1), "seed": generation.seed,
    }
    return reverse("generations:generate") + "?" + urlencode({k: v for k, v in fields.items() if v not in ("", None)})
