"""/api/v1/library…, /collections…, /account/export: thin endpoints over the library's services."""

from uuid import UUID

from ninja import Query, Router, Status

from apps.generations.schemas import GenerationOut, generation_out
from apps.generations.selectors import generation_list_by_ids

from . import selectors, services
from .exceptions import ItemNotFoundError
from .refs import ItemRef
from .schemas import (
    AddedOut,
    CollectionChange,
    CollectionIn,
    CollectionOut,
    CollectionPage,
    DeletionOut,
    ExportIn,
    ExportOut,
    ItemsIn,
    LibraryItemOut,
    LibraryPage,
    LibraryQuery,
    RemovedOut,
    RestoredOut,
    StarOut,
    export_out,
    item_out,
)

router = Router(tags=["library"])


def _filters(query: LibraryQuery) -> selectors.LibraryFilters:
    return selectors.LibraryFilters(
        q=query.q, kind=query.kind, model=query.model, status=query.status, ratio=query.ratio,
        created_from=query.created_from, created_to=query.created_to, starred=query.starred,
        collection_id=str(query.collection) if query.collection else "",
    )


def _deletion_out(deletion) -> dict:
    return {"deleted": len(deletion.items), "deleted_at": deletion.deleted_at, "undo_until": deletion.undo_until}


@router.get("/library", response=LibraryPage, summary="Search your library")
def library_search(request, query: Query[LibraryQuery]):
    """Your generated images and clips and your photos, newest first, keyset-paginated. `q` matches
    prompts (full-text: word forms, "phrases", -excluded); filters combine. Filters only a
    generation has (q, model, status, ratio, kind image/video) leave photos out."""
    page = selectors.library_search(user=request.auth, filters=_filters(query), cursor=query.cursor, limit=query.limit)
    return {"items": [item_out(item) for item in page.items], "next_cursor": page.next_cursor}


class _GenerationPage(LibraryPage):
    items: list[GenerationOut]


@router.get("/library/generations", response=_GenerationPage, summary="Search your generations")
def library_generations(request, query: Query[LibraryQuery]):
    """Generations (any status, including failed ones) matching q, model, status, ratio, dates, starred."""
    page = selectors.library_generations_search(user=request.auth, filters=_filters(query), cursor=query.cursor,
                                                limit=query.limit)
    ids = [g.pk for g in page.items]
    loaded = {g.pk: g for g in generation_list_by_ids(user=request.auth, ids=ids)}
    return {"items": [generation_out(loaded[pk]) for pk in ids if pk in loaded], "next_cursor": page.next_cursor}


@router.get("/library/items/{kind}/{item_id}", response=LibraryItemOut, summary="Get one image or photo")
def library_item(request, kind: str, item_id: str):
    return item_out(selectors.library_item_get(user=request.auth, item=ItemRef.parse(kind, item_id)))


@router.delete("/library/items/{kind}/{item_id}", response=DeletionOut, summary="Delete a generation, image or photo")
def library_item_delete(request, kind: str, item_id: str):
    """Hidden at once; POST /library/restore before `undo_until` brings it back, after that its files are removed.
    The credits history keeps its entries (naming it as deleted)."""
    deletion = services.library_items_delete(user=request.auth, items=[ItemRef.parse(kind, item_id)])
    return _deletion_out(deletion)


@router.post("/library/delete", response=DeletionOut, summary="Delete several items at once")
def library_delete(request, payload: ItemsIn):
    """All or nothing: if any item is not yours (404) or a generation is still running (409), none is deleted."""
    return _deletion_out(services.library_items_delete(user=request.auth, items=payload.refs()))


@router.post("/library/restore", response=RestoredOut, summary="Undo a deletion")
def library_restore(request, payload: ItemsIn):
    """Within the undo window (LIBRARY_UNDO_SECONDS); after it, 409 `undo_expired`."""
    return {"restored": services.library_items_restore(user=request.auth, items=payload.refs())}


@router.put("/library/items/{kind}/{item_id}/star", response=StarOut, summary="Star an image or photo")
def library_star(request, kind: str, item_id: str):
    return {"starred": services.star_set(user=request.auth, item=ItemRef.parse(kind, item_id), starred=True)}


@router.delete("/library/items/{kind}/{item_id}/star", response=StarOut, summary="Unstar an image or photo")
def library_unstar(request, kind: str, item_id: str):
    return {"starred": services.star_set(user=request.auth, item=ItemRef.parse(kind, item_id), starred=False)}


@router.get("/collections", response=CollectionPage, summary="List your collections, newest first")
def collection_list(request, cursor: str | None = None, limit: int = 50):
    page = selectors.collection_list(user=request.auth, cursor=cursor, limit=max(1, min(limit, 100)))
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/collections", response={201: CollectionOut}, summary="Create a collection")
def collection_create(request, payload: CollectionIn):
    return Status(201, services.collection_create(user=request.auth, name=payload.name))


@router.get("/collections/{collection_id}", response=CollectionOut, summary="Get one collection")
def collection_get(request, collection_id: UUID):
    """Its items: GET /library?collection=<id> (newest first) or /collections/{id}/items (in your order)."""
    return selectors.collection_get_for_user(user=request.auth, collection_id=collection_id)


@router.get("/collections/{collection_id}/items", response=list[LibraryItemOut], summary="A collection's items, in order")
def collection_items(request, collection_id: UUID):
    refs = selectors.collection_item_refs(user=request.auth, collection_id=collection_id)
    return [item_out(selectors.library_item_get(user=request.auth, item=ref)) for ref in refs]


@router.patch("/collections/{collection_id}", response=CollectionOut, summary="Rename a collection or list it publicly")
def collection_change(request, collection_id: UUID, payload: CollectionChange):
    """`is_public` lists it on your artist page, where visitors see only its publicly shared images."""
    collection = selectors.collection_get_for_user(user=request.auth, collection_id=collection_id)
    if payload.name is not None:
        collection = services.collection_rename(user=request.auth, collection_id=collection_id, name=payload.name)
    if payload.is_public is not None:
        collection = services.collection_publish(user=request.auth, collection_id=collection_id,
                                                 public=payload.is_public)
    return collection


@router.delete("/collections/{collection_id}", response={204: None}, summary="Delete a collection")
def collection_delete(request, collection_id: UUID):
    """The collection goes; its images stay in your library."""
    services.collection_delete(user=request.auth, collection_id=collection_id)
    return Status(204, None)


@router.post("/collections/{collection_id}/items", response=AddedOut, summary="Add images or photos")
def collection_items_add(request, collection_id: UUID, payload: ItemsIn):
    """Appends the items not in it yet (kinds `image` and `photo`), in the order given."""
    return {"added": services.collection_items_add(user=request.auth, collection_id=collection_id, items=payload.refs())}


@router.post("/collections/{collection_id}/items/remove", response=RemovedOut, summary="Remove images or photos")
def collection_items_remove(request, collection_id: UUID, payload: ItemsIn):
    removed = services.collection_items_remove(user=request.auth, collection_id=collection_id, items=payload.refs())
    return {"removed": removed}


@router.put("/collections/{collection_id}/order", response={204: None}, summary="Reorder a collection")
def collection_reorder(request, collection_id: UUID, payload: ItemsIn):
    """Every item of the collection, each once, in the new order."""
    services.collection_items_reorder(user=request.auth, collection_id=collection_id, items=payload.refs())
    return Status(204, None)


@router.post("/account/export", response={202: ExportOut}, summary="Export your data")
def export_request(request, payload: ExportIn | None = None):
    """Builds a zip of every file plus `darkroom.json` in the background; poll GET /account/export
    (and an e-mail arrives with the link). One at a time: 409 `export_pending`."""
    notify = payload.notify if payload is not None else True
    return Status(202, export_out(services.data_export_request(user=request.auth, notify=notify)))


@router.get("/account/export", response=ExportOut, summary="Your latest data export")
def export_latest(request):
    export = selectors.data_export_latest(user=request.auth)
    if export is None:
        raise ItemNotFoundError("No export yet.")
    return export_out(export)
