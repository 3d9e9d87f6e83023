"""Batch pages: submit (a prompt list with its ratio, size and count, a sweep, or a CSV file) with the
price shown before it starts, follow live, cancel, download."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_http_methods, require_POST

from apps.catalog.models import dimensions_for
from apps.catalog.selectors import catalog_model_availability, catalog_model_list
from apps.core.exceptions import ApplicationError
from apps.credits.selectors import credits_balance_get

from . import selectors, services, sources
from .api import batch_zip_response
from .exceptions import BatchInvalidError, BatchNotDownloadableError

MAX_CSV_BYTES = 2_000_000
# What a sweep row of the page can vary (the API takes every field of `sources.FIELDS`).
SWEEP_FIELDS = (
    ("seed", "Seed"), ("aspect_ratio", "Aspect ratio"), ("tier", "Size"), ("num_images", "Images per prompt"),
    ("negative_prompt", "Negative prompt"), ("prompt", "Prompt"),
)
SWEEP_ROWS = 3


def _models():
    return [m for m in catalog_model_list() if not m.needs_image and catalog_model_availability(m).available]


def _selected(models, data):
    return next((m for m in models if m.slug == data.get("model")), None) or (models[0] if models else None)


def _count(value, selected) -> int:
    try:
        count = int(value or 1)
    except (TypeError, ValueError):
        return 1
    return max(1, min(count, selected.max_images if selected else 1))


def _base(data, selected) -> dict:
    model = selected.slug if selected else data.get("model", "")
    return {"model": model, "tier": data.get("tier") or None, "aspect_ratio": data.get("aspect_ratio") or None,
            "num_images": _count(data.get("num_images"), selected)}


def _sweep_rows(data) -> list[dict]:
    return [{"n": n, "field": data.get(f"sweep-{n}-field", ""), "values": data.get(f"sweep-{n}-values", ""),
             "pair": data.get(f"sweep-{n}-pair") == "on"} for n in range(SWEEP_ROWS)]


def _sweep_groups(data, prompts: list[str]) -> list[list[dict]]:
    """The page's sweep rows as `sources.items_from_sweep` groups: each row its own group (combined
    with the others), or zipped with the row above when "pair" is ticked. The prompt list, when
    there is one and no row varies the prompt, is a group of its own."""
    groups: list[list[dict]] = []
    for row in _sweep_rows(data):
        values = [v.strip() for v in row["values"].split("|") if v.strip()]
        if not row["field"] or not values:
            continue
        entry = {"field": row["field"], "values": values}
        if groups and row["pair"]:
            groups[-1].append(entry)
        else:
            groups.append([entry])
    if groups and prompts and not any(e["field"] == "prompt" for group in groups for e in group):
        groups.insert(0, [{"field": "prompt", "values": prompts}])
    return groups


def _items(request, selected) -> tuple[str, list[dict]]:
    data = request.POST
    base = _base(data, selected)
    upload = request.FILES.get("csv_file")
    if upload is not None:
        if upload.size > MAX_CSV_BYTES:
            raise BatchInvalidError("The CSV file is too large (2 MB at most).")
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise BatchInvalidError("The CSV file must be UTF-8 text.") from None
        upload.seek(0)
        return "csv", sources.items_from_csv(text, base)
    prompts = [line.strip() for line in data.get("prompts", "").splitlines() if line.strip()]
    groups = _sweep_groups(data, prompts)
    if groups:
        return "sweep", sources.items_from_sweep(groups, base)
    return "prompts", sources.items_from_prompts(prompts, base)


def _quote(request, selected) -> dict:
    """What the form would start: its generations, images and price, or why it can't start."""
    balance = credits_balance_get(user=request.user)
    try:
        _, items = _items(request, selected)
        credits = services.batch_quote(items)
    except ApplicationError as exc:
        if exc.message.startswith("The batch is empty") and not request.FILES.get("csv_file"):
            return {"empty": True, "balance": balance}
        return {"error": exc.message, "balance": balance}
    images = sum(int(item.get("num_images") or 1) for item in items)
    return {"generations": len(items), "images": images, "credits": credits, "balance": balance,
            "short": credits > balance}


def _form_context(request, *, data, quote: bool) -> dict:
    models = _models()
    selected = _selected(models, data)
    context = {"models": models, "selected": selected, "data": data, "sweep_rows": _sweep_rows(data),
               "sweep_fields": SWEEP_FIELDS}
    if selected is not None:
        tier = selected.tier(data.get("tier") or None) or selected.tier(None)
        ratio = data.get("aspect_ratio") if data.get("aspect_ratio") in selected.aspect_ratios else None
        ratio = ratio or selected.default_aspect_ratio
        context.update(
            aspect_ratio=ratio, tier_key=tier["key"] if tier else "", num_images=_count(data.get("num_images"), selected),
            counts=range(1, selected.max_images + 1),
            ratios=[(r, *dimensions_for(aspect_ratio=r, area=tier["area"])) for r in selected.aspect_ratios],
            tiers=[{**t, **dict(zip(("width", "height"), dimensions_for(aspect_ratio=ratio, area=t["area"])))}
                   for t in selected.tiers],
        )
    if quote:
        context["quote"] = _quote(request, selected)
    return context


@login_required
@require_http_methods(["GET", "POST"])
def batches_view(request):
    error = None
    data = request.POST if request.method == "POST" else {}
    if request.method == "POST" and request.POST.get("action") != "quote":
        try:
            source, items = _items(request, _selected(_models(), data))
            batch = services.batch_create(user=request.user, items=items, source=source,
                                          name=request.POST.get("name", ""))
        except ApplicationError as exc:
            error = exc
        else:
            return redirect("batches:detail", batch_id=batch.pk)
    context = _form_context(request, data=data, quote=request.method == "POST")
    context.update(
        batches=[(b, selectors.batch_progress(b)) for b in selectors.batch_list_recent(user=request.user)],
        error=error,
    )
    return render(request, "batches/batches.html", context, status=422 if error else 200)


@login_required
@require_POST
def batch_options_view(request):
    """The model-dependent part of the form (ratios, sizes, counts), and the price out of band."""
    context = _form_context(request, data=request.POST, quote=True)
    html = render_to_string("batches/batches.html#batch-options", context, request=request)
    html += render_to_string("batches/batches.html#batch-quote", {**context, "oob": True}, request=request)
    return HttpResponse(html)


@login_required
@require_POST
def batch_quote_view(request):
    return render(request, "batches/batches.html#batch-quote", _form_context(request, data=request.POST, quote=True))


def _detail_context(request, batch_id):
    batch = selectors.batch_get_for_user(user=request.user, batch_id=batch_id)
    return {"batch": batch, "progress": selectors.batch_progress(batch)}


@login_required
def batch_detail_view(request, batch_id):
    context = _detail_context(request, batch_id)
    context["items"] = list(selectors.batch_items_all(context["batch"]))
    return render(request, "batches/detail.html", context)


@login_required
def batch_progress_view(request, batch_id):
    return render(request, "batches/_progress.html", _detail_context(request, batch_id))


@login_required
@require_POST
def batch_cancel_view(request, batch_id):
    services.batch_cancel(user=request.user, batch_id=batch_id)
    return redirect("batches:detail", batch_id=batch_id)


@login_required
def batch_download_view(request, batch_id):
    batch = selectors.batch_get_for_user(user=request.user, batch_id=batch_id)
    if not selectors.batch_progress(batch).counts["succeeded"]:
        raise BatchNotDownloadableError()
    return batch_zip_response(batch)
