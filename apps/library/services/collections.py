"""Stars and collections (boards): what the owner keeps and how they group it."""

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from ..exceptions import InvalidItemError
from ..models import Collection, CollectionItem, Star
from ..refs import IMAGE, PHOTO, ItemRef
from ..selectors import collection_get_for_user, library_targets


def _target(ref: ItemRef, row) -> dict:
    return {"image": row} if ref.kind == IMAGE else {"upload": row}


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidItemError("A collection needs a name of 1 to 100 characters.", code="invalid_name")
    return name


def star_set(*, user, item: ItemRef, starred: bool) -> bool:
    """Stars or unstars one image or photo; doing it twice is harmless."""
    ref, row = library_targets(user=user, items=[item])[0]
    target = _target(ref, row)
    if not starred:
        Star.objects.filter(owner=user, **target).delete()
        return False
    try:
        with transaction.atomic():
            Star.objects.create(owner=user, **target)
    except IntegrityError:
        pass  # already starred (the partial unique constraint)
    return True


def collection_create(*, user, name: str, items: list[ItemRef] = ()) -> Collection:
    """A new board, holding `items` from the start (all of them the user's, or nothing is made)."""
    with transaction.atomic():
        collection = Collection.objects.create(owner=user, name=_name(name))
        if items:
            collection_items_add(user=user, collection_id=collection.id, items=list(items))
    return collection


def collection_rename(*, user, collection_id, name: str) -> Collection:
    collection = collection_get_for_user(user=user, collection_id=collection_id)
    collection.name = _name(name)
    collection.save(update_fields=["name", "updated_at"])
    return collection


def collection_publish(*, user, collection_id, public: bool) -> Collection:
    """List the board on the owner's artist page (or stop): visitors see only its images the
    owner shared publicly (apps/gallery), never the rest."""
    collection = collection_get_for_user(user=user, collection_id=collection_id)
    if collection.is_public != public:
        collection.is_public = public
        collection.save(update_fields=["is_public", "updated_at"])
    return collection


def collection_delete(*, user, collection_id) -> None:
    """The board goes; the images in it stay in the library."""
    collection_get_for_user(user=user, collection_id=collection_id).delete()


def collection_items_add(*, user, collection_id, items: list[ItemRef]) -> int:
    """Appends the images or photos not in it yet, in the order given; returns how many were added."""
    with transaction.atomic():
        collection = collection_get_for_user(user=user, collection_id=collection_id, lock=True)
        targets = library_targets(user=user, items=items)
        position = (collection.items.aggregate(top=Max("position"))["top"] or 0)
        added = 0
        for ref, row in targets:
            target = _target(ref, row)
            if CollectionItem.objects.filter(collection=collection, **target).exists():
                continue  # under the collection's lock: no concurrent add of the same item
            position += 1
            CollectionItem.objects.create(collection=collection, position=position, **target)
            added += 1
        Collection.objects.filter(pk=collection.pk).update(updated_at=timezone.now())
    return added


def collection_items_remove(*, user, collection_id, items: list[ItemRef]) -> int:
    collection = collection_get_for_user(user=user, collection_id=collection_id)
    removed = 0
    for ref in items:
        if ref.kind not in (IMAGE, PHOTO):
            raise InvalidItemError("Collections hold images and photos.")
        field = "image_id" if ref.kind == IMAGE else "upload_id"
        removed += CollectionItem.objects.filter(collection=collection, **{field: ref.id}).delete()[0]
    return removed


def collection_items_reorder(*, user, collection_id, items: list[ItemRef]) -> None:
    """`items` in their new order: every item of the collection, each once."""
    with transaction.atomic():
        collection = collection_get_for_user(user=user, collection_id=collection_id, lock=True)
        current = {
            (ItemRef(IMAGE, str(i.image_id)) if i.image_id else ItemRef(PHOTO, str(i.upload_id))): i.pk
            for i in collection.items.all()
        }
        if len(items) != len(current) or set(items) != set(current):
            raise InvalidItemError("List every item of the collection once, in the new order.", code="invalid_order")
        rows = [CollectionItem(pk=current[ref], position=n) for n, ref in enumerate(items, start=1)]
        CollectionItem.objects.bulk_update(rows, ["position"])
