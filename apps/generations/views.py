"""HTML views: read the request, call a selector or a service, render. No rules here."""

import json

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.adapters import WELCOME_SESSION_KEY
from apps.catalog import pricing
from apps.catalog.auto import AUTO_MODEL, BUDGETS, auto_model_choose
from apps.catalog.models import dimensions_for
from apps.catalog.selectors import catalog_model_availability, catalog_model_list, preset_list_active
from apps.core.exceptions import ApplicationError
from apps.core.htmx import is_htmx
from apps.gallery.selectors import remix_data
from apps.media import selectors as media_selectors

from . import selectors, services, studio
from .cards import cards_render
from .forms import GenerateForm


def _picker(selected_slug: str | None):
    """Every catalogue model with its availability, and the one to preselect."""
    # Models that start from a photo are offered on the photo's page instead.
    models = [(model, catalog_model_availability(model)) for model in catalog_model_list() if not model.needs_image]
    available = [model for model, availability in models if availability.available]
    selected = next((m for m, a in models if m.slug == selected_slug and a.available), None)
    return models, selected or (available[0] if available else None)


# Auto's choices on the Generate page: the budget it weighs prices by, and the shapes offered.
AUTO_BUDGETS = (("economy", "Economy"), ("balanced", "Balanced"), ("best", "Best quality"))
AUTO_RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16")


def _groups(models) -> list[tuple[str, list]]:
    """The picker's groups, by what the models make."""
    groups = {"image": ("Images from text", []), "video": ("Video clips from text", [])}
    for model, availability in models:
        groups.get(model.kind, groups["image"])[1].append((model, availability))
    return [group for group in groups.values() if group[1]]


def _auto_choice(data):
    """What Auto would pick for the form as it stands, or None (no prompt yet, nothing available)."""
    prompt = (data.get("prompt") or "").strip()
    if not prompt:
        return None
    try:
        num_images = max(1, min(int(data.get("num_images") or 1), 4))
        choice = auto_model_choose(prompt=prompt, aspect_ratio=data.get("aspect_ratio") or None, num_images=num_images,
                                   budget=data.get("tier") if data.get("tier") in BUDGETS else None)
        price = pricing.quote(catalog_model=choice.model, num_images=min(num_images, choice.model.max_images))
    except (ValueError, ApplicationError):
        return None
    return {"model": choice.model, "reason": choice.reason, "price": price}


def _quote(selected, data) -> int | None:
    if selected is None:
        return None
    try:
        num_images = max(1, min(int(data.get("num_images") or 1), selected.max_images))
        return pricing.quote(catalog_model=selected, tier=data.get("tier") or None, num_images=num_images)
    except (ValueError, ApplicationError):
        return pricing.quote(catalog_model=selected, tier=None, num_images=1)


def _sizes_by_ratio(selected, area) -> str:
    """A tier's pixel size for each aspect ratio, so its label follows the ratio picked in the browser."""
    return json.dumps({
        r: "{}×{}".format(*dimensions_for(aspect_ratio=r, area=area)) for r in selected.aspect_ratios
    }, ensure_ascii=False)


def _generate_context(request, *, data=None, error=None, field_errors=None):
    data = data or {}
    models, selected = _picker(data.get("model"))
    context = {
        "models": models, "groups": _groups(models), "selected": selected, "data": data,
        "quote": _quote(selected, data), "error": error, "field_errors": field_errors or {},
        "presets": preset_list_active(), "preset": data.get("preset") or "",
    }
    if data.get("model") == AUTO_MODEL:
        try:
            num_images = max(1, min(int(data.get("num_images") or 1), 4))
        except ValueError:
            num_images = 1
        context.update(
            auto=True, selected=None, quote=None, auto_choice=_auto_choice(data), budgets=AUTO_BUDGETS,
            budget=data.get("tier") if data.get("tier") in BUDGETS else "balanced",
            auto_ratios=[(r, *dimensions_for(aspect_ratio=r, area=1048576)) for r in AUTO_RATIOS],
            aspect_ratio=data.get("aspect_ratio") if data.get("aspect_ratio") in AUTO_RATIOS else "1:1",
            counts=range(1, 5), num_images=num_images,
        )
        return context
    if selected is not None:
        ratio = data.get("aspect_ratio") if data.get("aspect_ratio") in selected.aspect_ratios else None
        ratio = ratio or selected.default_aspect_ratio
        tier = selected.tier(data.get("tier") or None) or selected.tier(None)
        try:
            num_images = max(1, min(int(data.get("num_images") or 1), selected.max_images))
        except ValueError:
            num_images = 1
        context.update(
            aspect_ratio=ratio, tier_key=tier["key"], num_images=num_images,
            counts=range(1, selected.max_images + 1),
            ratios=[(r, *dimensions_for(aspect_ratio=r, area=tier["area"])) for r in selected.aspect_ratios],
            tiers=[
                {**t, **dict(zip(("width", "height"), dimensions_for(aspect_ratio=ratio, area=t["area"]))),
                 "sizes": _sizes_by_ratio(selected, t["area"])}
                for t in selected.tiers
            ],
        )
    return context


# Offered to a new account; a click fills the prompt.
EXAMPLE_PROMPTS = (
    "a red fox asleep in deep snow at dawn",
    "a lighthouse on a cliff in a summer storm",
    "a quiet harbour at night, lanterns on the water",
)


def home_view(request):
    if not request.user.is_authenticated:
        return render(request, "generations/landing.html")
    # ?remix=<share token> fills the form from a shared image (apps/gallery); "Use these settings"
    # (apps/library) fills it from the query string (?model=<slug>&prompt=…).
    data = remix_data(token=request.GET.get("remix")) or (request.GET if request.GET.get("model") else None)
    context = _generate_context(request, data=data)
    context["recent"] = selectors.generation_recent(user=request.user)
    if request.session.pop(WELCOME_SESSION_KEY, False):
        context["examples"] = EXAMPLE_PROMPTS
    return render(request, "generations/generate.html", context)


@login_required
@require_GET
def generate_options_view(request):
    """The model-dependent part of the form (sizes, counts, negative prompt) and its price."""
    return render(request, "generations/generate.html#model-options", _generate_context(request, data=request.GET))


@login_required
@require_GET
def generate_quote_view(request):
    if request.GET.get("model") == AUTO_MODEL:
        return render(request, "generations/generate.html#quote", {"auto": True, "auto_choice": _auto_choice(request.GET)})
    _, selected = _picker(request.GET.get("model"))
    return render(request, "generations/generate.html#quote", {"quote": _quote(selected, request.GET)})


@login_required
@require_POST
def generation_create_view(request):
    form = GenerateForm(request.POST)
    error, field_errors, generation = None, {}, None
    if form.is_valid():
        fields = dict(form.cleaned_data)
        try:
            generation = services.generation_create(user=request.user, model_slug=fields.pop("model"), **fields)
        except ApplicationError as exc:
            error = exc
            if field := exc.extra.get("field"):
                field_errors[field] = exc.message
    else:
        error = "Please check the highlighted fields."
        field_errors = {name: " ".join(errors) for name, errors in form.errors.items()}
    if generation is not None and not is_htmx(request):
        return redirect("generations:detail", generation_id=generation.id)
    context = _generate_context(request, data=request.POST, error=error, field_errors=field_errors)
    if is_htmx(request):
        # The form comes back with its values kept; the new card lands on top of the recent list.
        context["new_generation"] = generation
        return render(request, "generations/_create_response.html", context)
    context["recent"] = selectors.generation_recent(user=request.user)
    return render(request, "generations/generate.html", context, status=422)


@login_required
@require_GET
def generation_detail_view(request, generation_id):
    generation = selectors.generation_get_for_user(user=request.user, generation_id=generation_id)
    return render(request, "generations/detail.html", {"generation": generation})


@login_required
@require_GET
def generation_card_view(request, generation_id):
    generation = selectors.generation_get_for_user(user=request.user, generation_id=generation_id)
    return render(request, "generations/_card.html", {"generation": generation})


@login_required
@require_POST
def generation_cancel_view(request, generation_id):
    try:
        generation = services.generation_cancel(user=request.user, generation_id=generation_id)
    except ApplicationError as exc:
        if exc.http_status == 404:
            raise
        generation = selectors.generation_get_for_user(user=request.user, generation_id=generation_id)
    if is_htmx(request):
        return render(request, "generations/_card.html", {"generation": generation})
    return redirect("generations:detail", generation_id=generation.id)


@login_required
@require_POST
def generation_retry_view(request, generation_id):
    """A failed card's "Try again": the new card lands just before the failed one."""
    try:
        generation = services.generation_retry(user=request.user, generation_id=generation_id)
    except ApplicationError as exc:
        if not is_htmx(request) or exc.http_status in (404, 409):
            return render(request, "error.html", {"message": exc.message}, status=exc.http_status)
        failed = selectors.generation_get_for_user(user=request.user, generation_id=generation_id)
        response = render(request, "generations/_card.html", {"generation": failed, "retry_error": exc.message})
        response["HX-Reswap"] = "outerHTML"  # the failed card again, saying why
        return response
    if not is_htmx(request):
        return redirect("generations:detail", generation_id=generation.id)
    return render(request, "generations/_retry_response.html", {"generation": generation})


@login_required
@require_GET
def my_images_view(request):
    page = selectors.generation_card_rows(user=request.user, cursor=request.GET.get("before") or None)
    cards = cards_render(request=request, rows=page.items,
                         load=lambda ids: selectors.generation_list_by_ids(user=request.user, ids=ids))
    return render(request, "generations/my_images.html", {"page": page, "cards": cards})


def _studio_context(request, capability, data, error=None):
    photos = media_selectors.upload_list(user=request.user, kind="photo", limit=48).items
    image = None
    if data.get("image") and not data.get("photo"):
        image = studio.studio_image_get(user=request.user, image_id=data["image"])
    models = studio.capability_models(capability)
    available = [m for m, a in models if a.available]
    chosen = next((m for m in available if m.slug == data.get("model")), available[0] if available else None)
    return {
        "capability": capability, "capabilities": studio.CAPABILITIES.values(), "photos": photos, "image": image,
        "photo_id": data.get("photo") or "", "face_id": data.get("face") or "", "data": data, "error": error,
        "models": [{"model": m, "availability": a, "prices": studio.tier_prices(m)} for m, a in models],
        "chosen": chosen,
        "durations": sorted({d for t in chosen.tiers for d in t.get("durations", [])}) if chosen else [],
    }


@login_required
def studio_view(request, capability_key):
    """One photo tool (edit with words, upscale, cut out, image to video, face swap) with a photo
    preselected by `?photo=<upload>` or `?image=<generated image>`."""
    capability = studio.capability_get(capability_key)
    if request.method != "POST":
        return render(request, "generations/studio.html", _studio_context(request, capability, request.GET))
    data = request.POST
    try:
        duration = int(data["duration_seconds"]) if data.get("duration_seconds") else None
        generation = studio.studio_submit(
            user=request.user, capability=capability, model_slug=data.get("model", ""),
            photo_id=data.get("photo") or None, image_id=data.get("image") or None, face_id=data.get("face") or None,
            prompt=data.get("prompt", ""), tier=data.get("tier") or None, duration_seconds=duration,
        )
    except (ApplicationError, ValueError) as exc:
        error = exc if isinstance(exc, ApplicationError) else "The clip length must be a whole number."
        context = _studio_context(request, capability, data, error=error)
        return render(request, "generations/studio.html", context, status=422)
    return redirect("generations:detail", generation_id=generation.id)
