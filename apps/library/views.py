"""Library pages: read the request, call a selector or a service, render. No rules here."""

from datetime import UTC, date, datetime

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from apps.catalog.selectors import catalog_model_list
from apps.core.exceptions import ApplicationError
from apps.core.htmx import is_htmx

from . import selectors, services
from .exceptions import InvalidItemError
from .presenters import item_download_name
from .refs import ItemRef

RATIOS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9")


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _filters(request) -> selectors.LibraryFilters:
    get = request.GET
    kind = get.get("kind") if get.get("kind") in selectors.LIBRARY_KINDS else selectors.KIND_ALL
    return selectors.LibraryFilters(
        q=get.get("q", "").strip()[:200], kind=kind, model=get.get("model", "")[:100],
        ratio=get.get("ratio", "") if get.get("ratio") in RATIOS else "",
        created_from=_date(get.get("from")), created_to=_date(get.get("to")), starred=get.get("starred") == "1",
        collection_id=get.get("collection", "")[:40],
    )


def _back(request, fallback: str) -> str:
    """Where a form came from (the same site only), to return there."""
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


def _refs(request) -> list[ItemRef]:
    return [ItemRef.from_token(token) for token in request.POST.getlist("items")]


def undo_from_query(query) -> dict | None:
    """The "Deleted — Undo" banner after a deletion, while the undo window lasts."""
    tokens = [t for t in query.get("deleted", "").split(",") if t][:200]
    try:
        until = datetime.fromtimestamp(float(query.get("until", "0")), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    if not tokens or until <= timezone.now():
        return None
    return {"items": tokens, "seconds": int((until - timezone.now()).total_seconds())}


@login_required
@require_GET
def library_view(request):
    filters = _filters(request)
    collection = None
    if filters.collection_id:
        collection = selectors.collection_get_for_user(user=request.user, collection_id=filters.collection_id)
    page = selectors.library_search(user=request.user, filters=filters, cursor=request.GET.get("cursor") or None)
    query = request.GET.copy()
    query.pop("cursor", None)
    query.pop("deleted", None)
    query.pop("until", None)
    context = {
        "page": page, "filters": filters, "collection": collection, "undo": undo_from_query(request.GET),
        "models": catalog_model_list(), "ratios": RATIOS, "collections": selectors.collection_all(user=request.user),
        "query": query.urlencode(), "back_url": request.path + (f"?{query.urlencode()}" if query else ""), "filtered": any(request.GET.get(k) for k in
                                                      ("q", "kind", "model", "ratio", "from", "to", "starred")),
    }
    return render(request, "library/library.html", context)


@login_required
@require_GET
def library_item_view(request, kind, item_id):
    item = selectors.library_item_get(user=request.user, item=ItemRef.parse(kind, item_id))
    context = {"item": item, "collections": selectors.collection_all(user=request.user),
               "in_collections": selectors.collections_holding(user=request.user, item=item.ref)}
    return render(request, "library/item.html", context)


@login_required
@require_GET
def library_item_download_view(request, kind, item_id):
    """The original, named after its prompt and id (Content-Disposition: attachment)."""
    item = selectors.library_item_get(user=request.user, item=ItemRef.parse(kind, item_id))
    return FileResponse(default_storage.open(item.file, "rb"), as_attachment=True,
                        filename=item_download_name(item), content_type=item.content_type)


@login_required
@require_POST
def library_star_view(request, kind, item_id):
    ref = ItemRef.parse(kind, item_id)
    starred = services.star_set(user=request.user, item=ref, starred=request.POST.get("starred") == "1")
    if is_htmx(request):
        return render(request, "library/_star.html", {"ref": ref, "starred": starred})
    return redirect(_back(request, reverse("library:library")))


@login_required
@require_POST
def library_delete_view(request):
    """Deletes the selected items (or one); the page comes back with an Undo banner."""
    try:
        refs = _refs(request)
        if not refs:
            raise InvalidItemError("Select the images to delete first.", code="nothing_selected")
        deletion = services.library_items_delete(user=request.user, items=refs)
    except ApplicationError as exc:
        if exc.http_status == 404:
            raise
        return render(request, "error.html", {"message": exc.message}, status=exc.http_status)
    back = _back(request, reverse("library:library"))
    separator = "&" if "?" in back else "?"
    tokens = ",".join(ref.token for ref in deletion.items)
    return redirect(f"{back}{separator}deleted={tokens}&until={deletion.undo_until.timestamp():.0f}")


@login_required
@require_POST
def library_restore_view(request):
    try:
        services.library_items_restore(user=request.user, items=_refs(request))
    except ApplicationError as exc:
        if exc.http_status == 404:
            raise
        return render(request, "error.html", {"message": exc.message}, status=exc.http_status)
    return redirect(_back(request, reverse("library:library")))


@login_required
@require_POST
def image_vary_view(request, kind, item_id):
    try:
        generation = services.library_image_vary(user=request.user, item=ItemRef.parse(kind, item_id))
    except ApplicationError as exc:
        if exc.http_status == 404:
            raise
        return render(request, "error.html", {"message": exc.message}, status=exc.http_status)
    return redirect("generations:detail", generation_id=generation.id)


@login_required
@require_POST
def image_to_photo_view(request, kind, item_id):
    """Edit as photo, upscale, remove background, image to video: all start from the photo page."""
    operation = request.POST.get("operation", "")
    try:
        photo = services.library_image_to_photo(user=request.user, item=ItemRef.parse(kind, item_id),
                                                operation=operation)
    except ApplicationError as exc:
        if exc.http_status == 404:
            raise
        return render(request, "error.html", {"message": exc.message}, status=exc.http_status)
    anchor = "#generate-from" if request.POST.get("then") == "video" else ""
    return redirect(reverse("media:edit", kwargs={"upload_id": photo.id}) + anchor)


@login_required
@require_GET
def collections_view(request):
    page = selectors.collection_list(user=request.user, cursor=request.GET.get("cursor") or None)
    return render(request, "library/collections.html", {"page": page})


@login_required
@require_POST
def collection_create_view(request):
    try:
        # "New collection…" from a selection: the new board holds it.
        collection = services.collection_create(user=request.user, name=request.POST.get("name", ""),
                                                items=_refs(request))
    except ApplicationError as exc:
        if exc.http_status == 404:
            raise
        page = selectors.collection_list(user=request.user)
        return render(request, "library/collections.html", {"page": page, "error": exc.message}, status=exc.http_status)
    return redirect(f"{reverse('library:library')}?collection={collection.id}")


@login_required
@require_POST
def collection_add_view(request):
    """Adds the selected items to the chosen collection (or a new one named in the form)."""
    collection_id = request.POST.get("collection", "")
    if collection_id == "new" or not collection_id:
        return collection_create_view(request)
    try:
        services.collection_items_add(user=request.user, collection_id=collection_id, items=_refs(request))
    except ApplicationError as exc:
        if exc.http_status == 404:
            raise
        return render(request, "error.html", {"message": exc.message}, status=exc.http_status)
    return redirect(_back(request, f"{reverse('library:library')}?collection={collection_id}"))


@login_required
@require_POST
def collection_remove_view(request, collection_id):
    services.collection_items_remove(user=request.user, collection_id=collection_id, items=_refs(request))
    return redirect(_back(request, f"{reverse('library:library')}?collection={collection_id}"))


@login_required
@require_POST
def collection_move_view(request, collection_id):
    """Moves one item a place earlier or later in the collection's order."""
    refs = selectors.collection_item_refs(user=request.user, collection_id=collection_id)
    try:
        item = ItemRef.from_token(request.POST.get("item", ""))
    except InvalidItemError:
        item = None
    if item in refs:
        at = refs.index(item)
        to = max(0, min(len(refs) - 1, at + (1 if request.POST.get("direction") == "later" else -1)))
        refs.insert(to, refs.pop(at))
        services.collection_items_reorder(user=request.user, collection_id=collection_id, items=refs)
    return redirect(reverse("library:collection", kwargs={"collection_id": collection_id}))


@login_required
@require_GET
def collection_view(request, collection_id):
    """A board in the owner's order, with earlier/later buttons."""
    collection = selectors.collection_get_for_user(user=request.user, collection_id=collection_id)
    items = [selectors.library_item_get(user=request.user, item=ref)
             for ref in selectors.collection_item_refs(user=request.user, collection_id=collection_id)]
    return render(request, "library/collection.html", {"collection": collection, "items": items})


@login_required
@require_POST
def collection_rename_view(request, collection_id):
    try:
        services.collection_rename(user=request.user, collection_id=collection_id, name=request.POST.get("name", ""))
    except ApplicationError as exc:
        if exc.http_status == 404:
            raise
        return render(request, "error.html", {"message": exc.message}, status=exc.http_status)
    return redirect("library:collection", collection_id=collection_id)


@login_required
@require_POST
def collection_publish_view(request, collection_id):
    services.collection_publish(user=request.user, collection_id=collection_id,
                                public=request.POST.get("public") == "1")
    return redirect("library:collection", collection_id=collection_id)


@login_required
@require_POST
def collection_delete_view(request, collection_id):
    services.collection_delete(user=request.user, collection_id=collection_id)
    return redirect("library:collections")
