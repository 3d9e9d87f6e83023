"""HTML views: read the request, call a selector or a service, render. No rules here."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.catalog.selectors import catalog_model_availability, catalog_model_list
from apps.core.exceptions import ApplicationError
from apps.core.htmx import is_htmx
from apps.imaging.operations import OPERATIONS

from . import selectors, services
from .models import Kind
from .uploads import upload_read


def _photos_context(request) -> dict:
    page = selectors.upload_list(user=request.user, kind=Kind.PHOTO, cursor=request.GET.get("before") or None)
    return {
        "page": page,
        "max_upload_bytes": settings.MEDIA_MAX_UPLOAD_BYTES,
        "max_megapixels": f"{settings.MEDIA_MAX_PIXELS / 1_000_000:g}",
    }


@login_required
@require_GET
def photos_view(request):
    return render(request, "media/photos.html", _photos_context(request))


@login_required
@require_POST
def photo_upload_view(request):
    try:
        content = upload_read(request, request.FILES.get("file"))
        upload = services.upload_create(
            user=request.user, content=content, kind=Kind.PHOTO, filename=request.FILES["file"].name
        )
    except ApplicationError as exc:
        context = _photos_context(request) | {"error": exc.message}
        return render(request, "media/photos.html", context, status=exc.http_status)
    return redirect("media:edit", upload_id=upload.id)


STUDIO_TOOLS = (("edit", "Edit with words"), ("upscale", "Upscale"), ("cutout", "Cut out"),
                ("animate", "Image to video"), ("face-swap", "Face swap"))


@login_required
@require_GET
def photo_edit_view(request, upload_id):
    photo = selectors.upload_get_for_user(user=request.user, upload_id=upload_id, kind=Kind.PHOTO)
    long_edge = max(photo.width, photo.height)
    context = {
        "photo": photo,
        # Brush sizes in photo pixels: the canvas works at the photo's full size.
        "brush_default": max(4, round(long_edge * 0.04)),
        "brush_max": max(16, round(long_edge * 0.25)),
        "masks": selectors.upload_masks_for_photo(user=request.user, photo=photo),
        "results": selectors.upload_results_for_photo(user=request.user, photo=photo),
        "operations": [OPERATIONS.get(key) for key in OPERATIONS],
        # The photo tools' pages (apps/generations/studio.py), each with this photo preselected.
        "studio_tools": STUDIO_TOOLS,
        "edit_models": [
            model for model in catalog_model_list()
            if (model.can("image-to-image") or model.can("inpaint") or model.can("image-to-video"))
            and catalog_model_availability(model).available
        ],
    }
    return render(request, "media/edit.html", context)


@login_required
@require_POST
def mask_create_view(request, upload_id):
    """The mask brush posts its PNG here; the answer is a fragment for the page's mask list."""
    # Someone else's photo is not found, whatever was posted.
    selectors.upload_get_for_user(user=request.user, upload_id=upload_id, kind=Kind.PHOTO)
    try:
        content = upload_read(request, request.FILES.get("file"))
        mask = services.upload_create(
            user=request.user, content=content, kind=Kind.MASK, photo_id=upload_id, filename="mask.png"
        )
    except ApplicationError as exc:
        if exc.http_status == 404:
            raise
        return render(request, "media/_mask_saved.html", {"error": exc.message}, status=exc.http_status)
    return render(request, "media/_mask_saved.html", {"mask": mask}, status=201)


@login_required
@require_POST
def operation_apply_view(request, upload_id, operation):
    params = {key: value for key, value in request.POST.items() if key != "csrfmiddlewaretoken"}
    try:
        result = services.upload_apply_operation(
            user=request.user, upload_id=upload_id, operation=operation, params=params
        )
    except ApplicationError as exc:
        if exc.http_status == 404 or not is_htmx(request):
            raise
        # htmx swaps 2xx answers only; the message lands in the operations panel.
        return render(request, "media/_operation_error.html", {"error": exc})
    url = reverse("media:edit", kwargs={"upload_id": result.id})
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
