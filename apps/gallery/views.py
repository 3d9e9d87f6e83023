"""The public side's pages: /explore, image pages (/i/<token>), artist pages (/u/<handle>), the
following feed, shared files (/s/…), and the owner's share, like, follow and report actions."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from apps.catalog.selectors import catalog_model_names
from apps.core.exceptions import ApplicationError
from apps.core.htmx import is_htmx

from . import links, selectors, services
from .models import Report, Visibility
from .tiles import tiles_html

CONTENT_TYPES = {"webp": "image/webp", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
                 "mp4": "video/mp4", "webm": "video/webm"}


def _tiles(request, page, *, template: str, context: dict):
    """A page of tiles: the whole page, or (for htmx's infinite scroll) the next tiles only."""
    query = request.GET.copy()
    query.pop("cursor", None)
    if page.next_cursor:
        query["cursor"] = page.next_cursor
    context = {**context, "page": page, "tiles": tiles_html(page.items),
               "next_query": query.urlencode() if page.next_cursor else ""}
    if is_htmx(request) and request.GET.get("cursor"):
        return render(request, "gallery/_tiles.html", context)
    return render(request, template, context)


@require_GET
def explore_view(request):
    sort = request.GET.get("sort") if request.GET.get("sort") in selectors.SORTS else "newest"
    window = request.GET.get("window") if request.GET.get("window") in selectors.WINDOWS else "week"
    model_slug = request.GET.get("model") or None
    page = selectors.explore_page(sort=sort, model_slug=model_slug, window=window,
                                  cursor=request.GET.get("cursor") or None)
    models = catalog_model_names()
    return _tiles(request, page, template="gallery/explore.html", context={
        "sort": sort, "window": window, "model_slug": model_slug or "", "models": models,
        "windows": list(selectors.WINDOWS)})


@require_GET
def artist_view(request, handle: str):
    profile = selectors.artist_get(handle=handle)
    if profile.handle != handle:
        return redirect("gallery:artist", handle=profile.handle, permanent=True)
    page = selectors.artist_page(owner=profile.user, cursor=request.GET.get("cursor") or None)
    first_page = not request.GET.get("cursor")
    return _tiles(request, page, template="gallery/artist.html", context={
        "profile": profile, "is_self": request.user.is_authenticated and request.user.pk == profile.user_id,
        "following": selectors.is_following(user=request.user, owner=profile.user),
        "collections": [{**entry, "cover_urls": [links.share_file_url(s, "thumb") for s in entry["covers"]]}
                        for entry in selectors.artist_collections(owner=profile.user)] if first_page else []})


@require_GET
def artist_collection_view(request, handle: str, collection_id):
    profile = selectors.artist_get(handle=handle)
    collection, shown = selectors.artist_collection(owner=profile.user, collection_id=collection_id)
    return render(request, "gallery/collection.html", {
        "profile": profile, "collection": collection, "tiles": tiles_html(shown), "count": len(shown)})


@login_required
@require_GET
def following_view(request):
    page = selectors.following_page(user=request.user, cursor=request.GET.get("cursor") or None)
    return _tiles(request, page, template="gallery/following.html", context={})


@require_GET
def image_view(request, token: str):
    share = selectors.share_get(token=token)
    liked = share.pk in selectors.liked_share_ids(user=request.user, shares_=[share])
    response = render(request, "gallery/image.html", {
        "share": share, "image": share.image, "generation": share.image.generation, "liked": liked,
        "reasons": Report.Reason.choices, "is_owner": request.user.pk == share.owner_id,
        "og_image": links.share_file_url(share, "preview", absolute=True),
        "page_url": settings.SITE_URL + request.path})
    if not share.is_public:
        response["X-Robots-Tag"] = "noindex"  # unlisted: for those with the link, not for search engines
    return response


@require_GET
def share_file_view(request, token: str, filename: str):
    """A shared file at its stable URL (`<digest>.<ext>`). The share is checked on every request:
    once the image is private (the share deleted) this is a 404, whatever URL was handed out."""
    digest, _, extension = filename.partition(".")
    share = selectors.share_for_file(token=token)
    path = links.share_file_path(share, digest) if share is not None else None
    if path is None or not path.endswith("." + extension) or not default_storage.exists(path):
        raise Http404("This image is not shared, or no longer.")
    if hasattr(default_storage, "bucket_name"):
        # Object storage: a presigned link of its own (short-lived); this URL stays the stable one.
        response = HttpResponseRedirect(default_storage.url(path))
        response["Cache-Control"] = "private, max-age=60"
        return response
    etag = f'"{digest}"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = FileResponse(default_storage.open(path, "rb"),
                                content_type=CONTENT_TYPES.get(extension, "application/octet-stream"))
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={settings.GALLERY_SHARE_MAX_AGE}"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def avatar_view(request, handle: str):
    profile = selectors.artist_get(handle=handle)
    upload = profile.avatar
    path = upload and (upload.thumbnail or upload.file)
    if not path or not default_storage.exists(path):
        raise Http404("No avatar.")
    if hasattr(default_storage, "bucket_name"):
        return HttpResponseRedirect(default_storage.url(path))
    response = FileResponse(default_storage.open(path, "rb"),
                            content_type=CONTENT_TYPES.get(path.rsplit(".", 1)[-1].lower(), "image/webp"))
    response["Cache-Control"] = "public, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def share_set_view(request, image_id: int):
    visibility = request.POST.get("visibility", "")
    error = None
    try:
        share = services.share_set(user=request.user, image_id=image_id, visibility=visibility,
                                   show_prompt=request.POST.get("show_prompt") == "on",
                                   allow_original=request.POST.get("allow_original") == "on")
    except ApplicationError as exc:
        if exc.http_status == 404:
            raise
        error, share = exc, selectors.share_of_image(user=request.user, image_id=image_id)
    context = {"image_id": image_id, "share": share, "error": error, "visibilities": Visibility.choices}
    status = error.http_status if error else 200
    if is_htmx(request):
        return render(request, "gallery/_share_controls.html", context, status=status)
    if error:
        raise error
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        next_url = reverse("generations:my_images")
    return redirect(next_url)


@login_required
@require_POST
def like_view(request, token: str):
    share = services.like_set(user=request.user, token=token, liked=request.POST.get("liked") == "1")
    liked = share.pk in selectors.liked_share_ids(user=request.user, shares_=[share])
    if is_htmx(request):
        return render(request, "gallery/_like.html", {"share": share, "liked": liked})
    return redirect("gallery:image", token=token)


@require_POST
def report_view(request, token: str):
    reporter = request.user if request.user.is_authenticated else None
    services.report_image(token=token, reporter=reporter, reason=request.POST.get("reason", ""),
                          details=request.POST.get("details", ""), client_key=request.META.get("REMOTE_ADDR", ""))
    if is_htmx(request):
        return HttpResponse('<p class="status-text ok" role="status">Thank you: the report was sent to our moderators.</p>')
    return render(request, "gallery/reported.html", {"token": token})


@login_required
@require_POST
def follow_view(request, handle: str):
    following = services.follow_set(user=request.user, handle=handle, following=request.POST.get("following") == "1")
    if is_htmx(request):
        return render(request, "gallery/_follow.html", {"handle": handle, "following": following})
    return redirect("gallery:artist", handle=handle)
