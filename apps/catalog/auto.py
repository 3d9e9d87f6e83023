"""Automatic model choice: `model: "auto"` (the picker's "Auto", the API, the OpenAI-compatible
endpoint) becomes one catalogue model, with a one-line reason the card shows.

1. The intent, by transparent rules over the prompt and the inputs, first match wins: a clip asked
   for → video; a photo given → edit; words to render (quoted or capitalised text, "poster",
   "says", "logo" …) → text; a product cue ("bottle", "packaging", "studio lighting" …) → product;
   an art cue ("illustration", "watercolor" …) → illustration; else photoreal.
2. The candidates: available models that can do it (a mask needs a repainting model, reference
   photos one that takes them, a clip's photo an image-to-video model), in the ratio and count asked
   where any can, and whose circuit breakers are not all open.
3. The score, deterministic: intent fit (STRENGTHS: 3 made for it, 2 good at it, 1 can; 0 for the
   offline engine, the last resort) first; then the review pass rate and the learned latency
   (performance.py); then the price, weighed by the budget: `economy` counts it heavily, `balanced`
   (the default) lightly, `best` not at all. A `max_credits` cap drops dearer models. Ties go to
   the cheaper, then to the slug. A prompt preset's model hints add one step of fit.

With AUTO_MODEL_CHAT_URL set (any OpenAI-compatible chat endpoint), a text prompt's intent is
checked by that chat model, asked to answer one word; anything else it says, an error or a timeout
(AUTO_MODEL_CHAT_TIMEOUT) leaves the rules' answer. Photos and clips are never sent.
"""

import logging
import re
from dataclasses import dataclass

import httpx
from django.conf import settings

from apps.core.exceptions import ApplicationError
from apps.providers.selectors import breaker_open_keys

from . import performance, pricing
from .models import CatalogModel, nearest_aspect_ratio
from .selectors import catalog_model_availability, route_is_configured

logger = logging.getLogger(__name__)

AUTO_MODEL = "auto"
BUDGETS = ("economy", "balanced", "best")
PRICE_WEIGHT = {"economy": 6.0, "balanced": 1.0, "best": 0.0}
PREFERRED_BONUS = 100.0  # a prompt preset's model hints

INTENTS = {
    "photoreal": "a photoreal model",
    "product": "a photoreal model for product shots",
    "text": "a model good at text in images",
    "illustration": "a model for illustration",
    "edit": "a model that edits photos from instructions",
    "video": "a video model",
}

# How well each model serves an intent: 3 made for it, 2 good at it; models not named can (1).
STRENGTHS = {
    "photoreal": {
        "flux-pro": 3, "flux-pro-ultra": 3, "imagen": 3, "imagen-ultra": 3, "flux-krea": 3, "seedream-4": 2,
        "flux-dev": 2, "stable-image-ultra": 2, "gpt-image-1": 2, "nano-banana-pro": 2, "imagen-fast": 2,
        "luma-photon": 2, "sd35-large": 2, "hidream-full": 2,
    },
    "product": {
        "seedream-4": 3, "flux-pro": 3, "flux-pro-ultra": 3, "imagen-ultra": 3, "imagen": 2, "gpt-image-1": 2,
        "nano-banana-pro": 2, "flux-krea": 2, "stable-image-ultra": 2,
    },
    "text": {
        "ideogram-turbo": 3, "ideogram-balanced": 3, "ideogram-quality": 3, "recraft": 3, "qwen-image": 3,
        "nano-banana-pro": 3, "gpt-image-1": 3, "imagen": 2, "imagen-ultra": 2, "seedream-4": 2,
        "gpt-image-mini": 2,
    },
    "illustration": {
        "recraft": 3, "ideogram-balanced": 2, "flux-dev": 2, "sd35-large": 2, "hidream-full": 2, "seedream-3": 2,
        "minimax-image": 2, "sdxl": 2, "luma-photon": 2,
    },
    "edit": {
        "flux-kontext-pro": 3, "flux-kontext-max": 3, "nano-banana-edit": 3, "qwen-image-edit": 2,
        "seedream-4-edit": 2, "gpt-image-1": 2, "flux-fill": 3,
    },
    "video": {
        "veo-video": 3, "kling-master": 3, "kling-video": 3, "hailuo-animate": 3, "veo-fast": 2, "kling-turbo": 2,
        "luma-ray": 2, "seedance-video": 2, "hailuo-video": 2, "seedance-animate": 2, "luma-ray-animate": 2,
        "wan-animate": 2,
    },
}

_QUOTED = re.compile(r"[\"“”«»]([^\"“”«»]{2,60})[\"“”«»]|'([^']{2,60})'")
_CAPITALS = re.compile(r"\b[A-Z]{2,}(?:[ \-!%&]+[A-Z0-9]{2,})+\b")  # SUMMER SALE, GRAND OPENING


def _words(*words: str) -> re.Pattern:
    return re.compile(r"\b(" + "|".join(words) + r")\b", re.IGNORECASE)


TEXT_CUES = _words(
    "poster", "posters", "sign", "signboard", "logo", "logotype", "banner", "flyer", "headline", "title",
    "caption", "typography", "lettering", "label that reads", "that says", "saying", "says", "reads",
    "written", "the words?", "text", "slogan", "menu", "book cover", "album cover", "wordmark", "quote",
)
PRODUCT_CUES = _words(
    "product", "products", "packshot", "pack shot", "bottle", "bottles", "jar", "jars", "packaging",
    "package", "mug", "perfume", "cosmetics?", "lipstick", "sneakers?", "handbag", "wristwatch", "watch",
    "e-?commerce", "catalog(ue)?", "studio lighting", "studio shot", "white background", "hero shot",
    "flat lay", "mock-?up", "tabletop", "countertop", "marble counter",
)
ILLUSTRATION_CUES = _words(
    "illustration", "illustrated", "cartoon", "anime", "manga", "drawing", "drawn", "sketch", "painting",
    "painted", "watercolou?r", "vector", "flat design", "comic", "pixel art", "storybook", "children's book",
    "clip ?art", "icon", "doodle", "line art", "gouache", "ink",
)
PHOTO_CUES = _words(
    "photo", "photograph", "photography", "photorealistic", "realistic", "portrait", "dslr", "35mm", "85mm",
    "bokeh", "cinematic", "candid", "documentary",
)


class NoAutoChoiceError(ApplicationError):
    code = "model_unavailable"
    http_status = 409
    default_message = "No model on this server can do this right now."


@dataclass(frozen=True)
class AutoChoice:
    model: CatalogModel
    intent: str
    reason: str  # one plain line for the card: what was chosen and why


def intent_infer(prompt: str, *, has_image: bool = False, wants_video: bool = False) -> tuple[str, str]:
    """(intent, the cue that decided it, in plain words)."""
    prompt = prompt or ""
    if wants_video:
        return "video", "you asked for a clip"
    if has_image:
        return "edit", "you gave a photo to change"
    if match := _QUOTED.search(prompt):
        return "text", f"the prompt has words to render (“{(match.group(1) or match.group(2)).strip()}”)"
    if match := _CAPITALS.search(prompt):
        return "text", f"the prompt has words to render (“{match.group(0)}”)"
    for intent, cues in (("text", TEXT_CUES), ("product", PRODUCT_CUES), ("illustration", ILLUSTRATION_CUES),
                         ("photoreal", PHOTO_CUES)):
        if match := cues.search(prompt):
            return intent, f"the prompt mentions “{match.group(0).lower()}”"
    return "photoreal", "nothing in the prompt asks for another style"


TEXT_INTENTS = ("photoreal", "product", "text", "illustration")
CHAT_INSTRUCTIONS = (
    "Classify an image-generation prompt. Answer with exactly one word: photoreal (a realistic photo), "
    "product (a product shot), text (an image whose main point is words to render: posters, signs, logos) "
    "or illustration (drawn, painted or graphic art)."
)


def intent_refine(prompt: str, intent: str, cue: str) -> tuple[str, str]:
    """The rules' (intent, cue), checked by the configured chat model when there is one."""
    if not settings.AUTO_MODEL_CHAT_URL or intent not in TEXT_INTENTS:
        return intent, cue
    headers = {"Authorization": f"Bearer {settings.AUTO_MODEL_CHAT_API_KEY}"} if settings.AUTO_MODEL_CHAT_API_KEY else {}
    body = {"model": settings.AUTO_MODEL_CHAT_MODEL, "temperature": 0, "max_tokens": 5,
            "messages": [{"role": "system", "content": CHAT_INSTRUCTIONS}, {"role": "user", "content": prompt[:2000]}]}
    try:
        response = httpx.post(settings.AUTO_MODEL_CHAT_URL.rstrip("/") + "/chat/completions", json=body,
                              headers=headers, timeout=settings.AUTO_MODEL_CHAT_TIMEOUT)
        response.raise_for_status()
        answer = str(response.json()["choices"][0]["message"]["content"]).strip().strip(".").lower()
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as error:
        logger.warning("auto model chat check failed: %s", error)
        return intent, cue
    if answer not in TEXT_INTENTS or answer == intent:
        return intent, cue
    return answer, "a language model read the prompt that way"


def _is_offline(model: CatalogModel) -> bool:
    return all(route.provider == "offline" for route in model.route_list)


def _fit(model: CatalogModel, intent: str) -> int:
    if _is_offline(model):
        return 0
    return STRENGTHS.get(intent, {}).get(model.slug, 1)


def _can_serve(model: CatalogModel, *, intent: str, has_image: bool, has_mask: bool, references: int) -> bool:
    if intent == "video":
        if model.kind != CatalogModel.Kind.VIDEO:
            return False
        return model.can("image-to-video") if has_image else model.can("text-to-video")
    if model.kind != CatalogModel.Kind.IMAGE:
        return False
    if not has_image:
        return model.can("text-to-image")
    if has_mask:
        return model.can("inpaint")
    if references:
        return model.can("reference") and model.can("image-to-image")
    return model.can("image-to-image")


def _healthy(model: CatalogModel, open_keys: set[str]) -> bool:
    """Some configured route of the model is not shut off by an open breaker."""
    return any(
        route_is_configured(route) and not open_keys & set(route.breaker_keys) for route in model.route_list
    )


def _score(model: CatalogModel, *, intent: str, budget: str, price: int) -> float:
    pass_rate = performance.model_pass_rate(model.slug)
    latency = performance.model_latency_p50(model.slug)
    quality = 10.0 if pass_rate is None else 20.0 * pass_rate
    speed = -min(latency if latency is not None else 30.0, 180.0) / 6
    return 100.0 * _fit(model, intent) + quality + speed - PRICE_WEIGHT[budget] * price


def auto_model_choose(
    *, prompt: str, has_image: bool = False, has_mask: bool = False, references: int = 0,
    wants_video: bool = False, aspect_ratio: str | None = None, num_images: int = 1,
    budget: str | None = None, max_credits: int | None = None, duration_seconds: int | None = None,
    preferred: tuple[str, ...] = (),
) -> AutoChoice:
    """The model for this request, and why. Raises NoAutoChoiceError when nothing can serve it."""
    budget = budget if budget in BUDGETS else "balanced"
    intent, cue = intent_refine(prompt, *intent_infer(prompt, has_image=has_image, wants_video=wants_video))
    candidates = [
        model for model in CatalogModel.objects.all()
        if _can_serve(model, intent=intent, has_image=has_image, has_mask=has_mask, references=references)
        and catalog_model_availability(model).available
    ]
    if intent == "edit" and not has_mask and not references:
        # Instruction editors first, when any is up: "make the mug blue" needs one.
        candidates = [m for m in candidates if m.can("edit")] or candidates
    candidates = [m for m in candidates if m.max_images >= num_images] or candidates
    if aspect_ratio and not has_image:
        candidates = [m for m in candidates if aspect_ratio in m.aspect_ratios] or candidates
    open_keys = breaker_open_keys()
    candidates = [m for m in candidates if _healthy(m, open_keys)]
    priced = []
    for model in candidates:
        price = pricing.quote(catalog_model=model, num_images=min(num_images, model.max_images),
                              duration_seconds=duration_seconds if model.kind == CatalogModel.Kind.VIDEO else None)
        if max_credits is None or price <= max_credits:
            priced.append((model, price))
    if not priced:
        raise NoAutoChoiceError()
    def rank(item):
        # A style's model hints count like one step of intent fit.
        bonus = PREFERRED_BONUS if item[0].slug in preferred else 0.0
        return -(_score(item[0], intent=intent, budget=budget, price=item[1]) + bonus), item[1], item[0].slug

    model, price = min(priced, key=rank)
    what = INTENTS[intent] if _fit(model, intent) else "the offline engine (no AI model is available for this)"
    return AutoChoice(model=model, intent=intent, reason=f"Auto chose {model.label}: {what}, as {cue}.")


def auto_aspect_ratio(model: CatalogModel, aspect_ratio: str | None) -> str | None:
    """The asked ratio, or the chosen model's nearest (any "W:H" is accepted for Auto)."""
    if not aspect_ratio or aspect_ratio in model.aspect_ratios:
        return aspect_ratio
    try:
        return nearest_aspect_ratio(aspect_ratio, model.aspect_ratios or ["1:1"])
    except (ValueError, ZeroDivisionError):
        return None
