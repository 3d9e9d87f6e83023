"""Batch pages: submit (prompts or a CSV file), follow live, cancel, download."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.catalog.selectors import catalog_model_availability, catalog_model_list
from apps.core.exceptions import ApplicationError

from . import selectors, services, sources
from .api import batch_zip_response
from .exceptions import BatchInvalidError, BatchNotDownloadableError

MAX_CSV_BYTES = 2_000_000


def _models():
    return [m for m in catalog_model_list() if not m.needs_image and catalog_model_availability(m).available]


def _items(request) -> tuple[str, list[dict]]:
    base = {"model": request.POST.get("model", ""), "tier": request.POST.get("tier") or None,
            "aspect_ratio": request.POST.get("aspect_ratio") or None, "num_images": 1}
    upload = request.FILES.get("csv_file")
    if upload is not None:
        if upload.size > MAX_CSV_BYTES:
            raise BatchInvalidError("The CSV file is too large (2 MB at most).")
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise BatchInvalidError("The CSV file must be UTF-8 text.") from None
        return "csv", sources.items_from_csv(text, base)
    prompts = [line.strip() for line in request.POST.get("prompts", "").splitlines() if line.strip()]
    return "prompts", sources.items_from_prompts(prompts, base)


@login_required
@require_http_methods(["GET", "POST"])
def batches_view(request):
    error = None
    if request.method == "POST":
        try:
            source, items = _items(request)
            batch = services.batch_create(user=request.user, items=items, source=source,
                                          name=request.POST.get("name", ""))
        except ApplicationError as exc:
            error = exc
        else:
            return redirect("batches:detail", batch_id=batch.pk)
    context = {
        "batches": [(b, selectors.batch_progress(b)) for b in selectors.batch_list_recent(user=request.user)],
        "models": _models(), "error": error, "data": request.POST if request.method == "POST" else {},
    }
    return render(request, "batches/batches.html", context, status=422 if error else 200)


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
