"""Owner-scoped reads of the library: another user's item or collection is a 404.

Search: the user's images (generated images and clips, not deleted) and photos, newest first,
with keyset cursors across both. Prompts match with PostgreSQL full-text search on the
expression `generation_prompt_search` indexes (generations migration 0010); SQLite matches
each word with LIKE.
"""

import base64
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from apps.core.pagination import InvalidCursorError, Page, keyset_page
from apps.generations.models import Generation, GenerationImage, Status
from apps.media.models import Kind as UploadKind
from apps.media.models import Upload
from apps.review.selectors import image_shown_as

from .exceptions import InvalidItemError, ItemNotFoundError
from .models import Collection, CollectionItem, DataExport, Star
from .refs import GENERATION, IMAGE, PHOTO, ItemRef

# What the library's kind filter offers.
KIND_ALL, KIND_IMAGE, KIND_VIDEO, KIND_PHOTO = "all", "image", "video", "photo"
LIBRARY_KINDS = (KIND_ALL, KIND_IMAGE, KIND_VIDEO, KIND_PHOTO)


@dataclass(frozen=True)
class LibraryFilters:
    q: str = ""
    kind: str = KIND_ALL
    model: str = ""
    status: str = ""
    ratio: str = ""
    created_from: date | None = None
    created_to: date | None = None
    starred: bool = False
    collection_id: str = ""

    @property
    def generated_only(self) -> bool:
        """Filters only a generation has: photos never match them."""
        return bool(self.q or self.model or self.status or self.ratio or self.kind in (KIND_IMAGE, KIND_VIDEO))


@dataclass
class LibraryItem:
    ref: ItemRef
    created_at: datetime
    file: str
    preview: str
    thumbnail: str
    width: int
    height: int
    content_type: str
    starred: bool
    prompt: str = ""
    model_label: str = ""
    generation: Generation | None = None
    upload: Upload | None = None
    extra: dict = field(default_factory=dict)
    shown: str = "plain"  # "blurred" or "withheld" for an image its safety review flagged

    @property
    def is_video(self) -> bool:
        return self.content_type.startswith("video/")

    @property
    def display(self) -> str:
        return self.preview or self.thumbnail or self.file

    @property
    def card(self) -> str:
        return self.thumbnail or self.preview or self.file


def prompt_matches(queryset: QuerySet, query: str, *, prefix: str = "") -> QuerySet:
    """Rows whose generation's prompt matches `query` (words, "phrases", -not)."""
    query = query.strip()
    if not query:
        return queryset
    if connection.vendor == "postgresql":
        table = Generation._meta.db_table
        expression = RawSQL(
            f"to_tsvector('english'::regconfig, \"{table}\".\"prompt\") @@ websearch_to_tsquery('english'::regconfig, %s)",
            [query], output_field=BooleanField(),
        )
        return queryset.filter(expression)
    for word in query.split():
        queryset = queryset.filter(**{f"{prefix}prompt__icontains": word.strip('"-')})
    return queryset


def _generation_filters(queryset: QuerySet, filters: LibraryFilters, *, prefix: str) -> QuerySet:
    queryset = prompt_matches(queryset, filters.q, prefix=prefix)
    if filters.model:
        queryset = queryset.filter(**{f"{prefix}catalog_model__slug": filters.model})
    if filters.status:
        queryset = queryset.filter(**{f"{prefix}status": filters.status})
    if filters.ratio:
        queryset = queryset.filter(**{f"{prefix}params__aspect_ratio": filters.ratio})
    return queryset


def _dates(queryset: QuerySet, filters: LibraryFilters) -> QuerySet:
    if filters.created_from:
        queryset = queryset.filter(created_at__date__gte=filters.created_from)
    if filters.created_to:
        queryset = queryset.filter(created_at__date__lte=filters.created_to)
    return queryset


def _images(user, filters: LibraryFilters) -> QuerySet[GenerationImage]:
    images = GenerationImage.objects.filter(
        generation__owner=user, generation__deleted_at=None, deleted_at=None,
    ).select_related("generation__catalog_model", "generation__owner", "review")
    images = _dates(_generation_filters(images, filters, prefix="generation__"), filters)
    if filters.kind == KIND_VIDEO:
        images = images.filter(content_type__startswith="video/")
    elif filters.kind == KIND_IMAGE:
        images = images.exclude(content_type__startswith="video/")
    stars = Star.objects.filter(owner=user, image=OuterRef("pk"))
    images = images.annotate(is_starred=Exists(stars))
    if filters.starred:
        images = images.filter(is_starred=True)
    if filters.collection_id:
        images = images.filter(pk__in=CollectionItem.objects.filter(
            collection_id=filters.collection_id, image__isnull=False).values("image_id"))
    return images


def _photos(user, filters: LibraryFilters) -> QuerySet[Upload]:
    photos = _dates(Upload.objects.filter(owner=user, kind=UploadKind.PHOTO, deleted_at=None), filters)
    photos = photos.annotate(is_starred=Exists(Star.objects.filter(owner=user, upload=OuterRef("pk"))))
    if filters.starred:
        photos = photos.filter(is_starred=True)
    if filters.collection_id:
        photos = photos.filter(pk__in=CollectionItem.objects.filter(
            collection_id=filters.collection_id, upload__isnull=False).values("upload_id"))
    return photos


def _image_item(image: GenerationImage) -> LibraryItem:
    generation = image.generation
    return LibraryItem(
        ref=ItemRef(IMAGE, str(image.pk)), created_at=image.created_at, file=image.file, preview=image.preview,
        thumbnail=image.thumbnail, width=image.width, height=image.height, content_type=image.content_type,
        starred=getattr(image, "is_starred", False), prompt=generation.prompt,
        model_label=generation.catalog_model.label, generation=generation, extra={"image": image},
        shown=image_shown_as(getattr(image, "review", None), generation.owner),
    )


def _photo_item(upload: Upload) -> LibraryItem:
    return LibraryItem(
        ref=ItemRef(PHOTO, str(upload.pk)), created_at=upload.created_at, file=upload.file, preview=upload.preview,
        thumbnail=upload.thumbnail, width=upload.width, height=upload.height,
        content_type=f"image/{upload.extension.replace('jpg', 'jpeg')}", starred=getattr(upload, "is_starred", False),
        prompt=upload.original_name, upload=upload,
    )


def _cursor_encode(item: LibraryItem) -> str:
    raw = f"{item.created_at.isoformat()}|{item.ref.token}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[datetime, ItemRef]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, token = raw.split("|", 1)
        created_at, ref = datetime.fromisoformat(created), ItemRef.from_token(token)
    except (ValueError, UnicodeDecodeError, InvalidItemError):
        raise InvalidCursorError() from None
    if timezone.is_naive(created_at) or ref.kind == GENERATION:
        raise InvalidCursorError()
    return created_at, ref


def _below(queryset: QuerySet, created_at: datetime, ref: ItemRef, kind: str) -> QuerySet:
    """Rows after the cursor in newest-first order. Photos sort before images at the same instant."""
    earlier = Q(created_at__lt=created_at)
    if ref.kind == kind:
        earlier |= Q(created_at=created_at, pk__lt=ref.id)
    elif kind == IMAGE:  # the cursor is a photo: images at the same instant come after it
        earlier |= Q(created_at=created_at)
    return queryset.filter(earlier, created_at__lte=created_at)


def library_search(*, user, filters: LibraryFilters, cursor: str | None = None, limit: int = 48) -> Page[LibraryItem]:
    """A page of the user's library, newest first, across generated images and photos."""
    if filters.collection_id:
        collection_get_for_user(user=user, collection_id=filters.collection_id)
    sources = []
    if filters.kind != KIND_PHOTO:
        sources.append((IMAGE, _images(user, filters), _image_item))
    if filters.kind in (KIND_ALL, KIND_PHOTO) and not filters.generated_only:
        sources.append((PHOTO, _photos(user, filters), _photo_item))
    position = _cursor_decode(cursor) if cursor else None
    items = []
    for kind, queryset, make in sources:
        if position:
            queryset = _below(queryset, *position, kind)
        items += [make(row) for row in queryset.order_by("-created_at", "-pk")[: limit + 1]]
    rank = {PHOTO: 1, IMAGE: 0}
    items.sort(key=lambda i: (i.created_at, rank[i.ref.kind], _sortable(i.ref)), reverse=True)
    page = items[:limit]
    next_cursor = _cursor_encode(page[-1]) if len(items) > limit else None
    return Page(items=page, next_cursor=next_cursor)


def _sortable(ref: ItemRef):
    return int(ref.id) if ref.kind == IMAGE else uuid.UUID(ref.id).int


def library_generations_search(*, user, filters: LibraryFilters, cursor: str | None = None, limit: int = 24) -> Page:
    """The user's generations (any status, not deleted) matching the generation filters."""
    queryset = Generation.objects.filter(owner=user, deleted_at=None).select_related("catalog_model")
    queryset = _dates(_generation_filters(queryset, filters, prefix=""), filters)
    if filters.starred:
        queryset = queryset.filter(Exists(Star.objects.filter(owner=user, image__generation=OuterRef("pk"))))
    return keyset_page(queryset, cursor=cursor, limit=limit)


def library_targets(*, user, items: list[ItemRef]) -> list[tuple[ItemRef, object]]:
    """The user's live (not deleted) images and photos for `items`, in order; any missing is a 404."""
    if any(ref.kind not in (IMAGE, PHOTO) for ref in items):
        raise InvalidItemError("Stars and collections hold images and photos.")
    images = GenerationImage.objects.filter(
        generation__owner=user, generation__deleted_at=None, deleted_at=None,
        pk__in=[r.id for r in items if r.kind == IMAGE],
    )
    photos = Upload.objects.filter(owner=user, kind=UploadKind.PHOTO, deleted_at=None,
                                   pk__in=[r.id for r in items if r.kind == PHOTO])
    rows = {ItemRef(IMAGE, str(i.pk)): i for i in images} | {ItemRef(PHOTO, str(u.pk)): u for u in photos}
    found = []
    for ref in dict.fromkeys(items):
        if ref not in rows:
            raise ItemNotFoundError()
        found.append((ref, rows[ref]))
    return found


def library_item_get(*, user, item: ItemRef) -> LibraryItem:
    """One image or photo of the user's, as the viewer shows it."""
    ref, row = library_targets(user=user, items=[item])[0]
    if ref.kind == IMAGE:
        row = GenerationImage.objects.select_related("generation__catalog_model", "generation__owner", "review").annotate(
            is_starred=Exists(Star.objects.filter(owner=user, image=OuterRef("pk")))).get(pk=row.pk)
        return _image_item(row)
    row = Upload.objects.annotate(is_starred=Exists(Star.objects.filter(owner=user, upload=OuterRef("pk")))).get(pk=row.pk)
    return _photo_item(row)


def collection_get_for_user(*, user, collection_id, lock: bool = False) -> Collection:
    try:
        queryset = Collection.objects.filter(owner=user, pk=uuid.UUID(str(collection_id)))
    except ValueError:
        raise ItemNotFoundError("Collection not found.") from None
    collection = (queryset.select_for_update() if lock else queryset).first()
    if collection is None:
        raise ItemNotFoundError("Collection not found.")
    return collection


def collection_list(*, user, cursor: str | None = None, limit: int = 50) -> Page[Collection]:
    return keyset_page(Collection.objects.filter(owner=user), cursor=cursor, limit=limit)


def collection_all(*, user) -> list[Collection]:
    """Every board of the user's, for pickers (newest first)."""
    return list(Collection.objects.filter(owner=user).order_by("-created_at", "-pk")[:200])


def collection_item_refs(*, user, collection_id) -> list[ItemRef]:
    """The collection's items in the owner's order (live ones only)."""
    collection = collection_get_for_user(user=user, collection_id=collection_id)
    rows = CollectionItem.objects.filter(collection=collection).filter(
        Q(image__deleted_at=None, image__generation__deleted_at=None, image__isnull=False)
        | Q(upload__deleted_at=None, upload__isnull=False)
    ).order_by("position", "pk")
    return [ItemRef(IMAGE, str(r.image_id)) if r.image_id else ItemRef(PHOTO, str(r.upload_id)) for r in rows]


def collections_holding(*, user, item: ItemRef) -> set[str]:
    field = "image_id" if item.kind == IMAGE else "upload_id"
    return {str(pk) for pk in CollectionItem.objects.filter(collection__owner=user, **{field: item.id})
            .values_list("collection_id", flat=True)}


def data_export_latest(*, user) -> DataExport | None:
    return DataExport.objects.filter(owner=user).order_by("-created_at").first()


def generation_statuses() -> list[tuple[str, str]]:
    return list(Status.choices)


def image_as_item(image: GenerationImage, generation: Generation, *, user) -> LibraryItem:
    """An image already loaded with its generation (the result page), as a library item."""
    image.generation = generation
    image.is_starred = Star.objects.filter(owner=user, image=image).exists()
    return _image_item(image)
