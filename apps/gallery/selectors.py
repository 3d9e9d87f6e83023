"""Reads of the public side. Every query starts from `shares()` (every live share) or
`public_images()` (the public ones): what must never be shown is filtered there, once."""

import base64
from datetime import timedelta

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from apps.accounts.models import Profile
from apps.catalog.selectors import catalog_model_names
from apps.core.exceptions import NotFoundError
from apps.core.pagination import InvalidCursorError, Page, keyset_page
from apps.library.models import Collection, CollectionItem

from .models import PUBLIC, Follow, Like, Share

PAGE_SIZE = 24
SORTS = ("newest", "top")
# "Top": the most liked of the images made public within the window.
WINDOWS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30), "all": None}


def shares() -> QuerySet[Share]:
    """Every live share, public or unlisted: the base of every query a visitor can reach. An image
    its owner deleted (apps/library) or staff hid (apps/review) is down at once."""
    return Share.objects.filter(image__deleted_at=None, image__generation__deleted_at=None).exclude(
        image__review__staff_hidden=True)


def public_images() -> QuerySet[Share]:
    """Public shares only: what /explore, artist pages and the following feed list."""
    return shares().filter(PUBLIC)


# What a tile needs, and no more: the lists read 24 of these per page from a million.
TILE_FIELDS = ("id", "token", "like_count", "created_at", "allow_original", "image__id", "image__thumbnail",
               "image__preview", "image__blurhash", "image__width", "image__height")


def _for_tiles(queryset: QuerySet[Share]) -> QuerySet[Share]:
    """Each share with its image's display fields and its artist's handle (as `handle`)."""
    handle = Profile.objects.filter(user_id=OuterRef("owner_id")).values("handle")[:1]
    return queryset.select_related("image").only(*TILE_FIELDS).annotate(handle=Subquery(handle))


def share_get(*, token: str) -> Share:
    """A public or unlisted share by its token; a private (or never shared) image is not found."""
    share = shares().select_related("image__generation", "owner__profile", "catalog_model").filter(token=token).first()
    if share is None:
        raise NotFoundError("This image is not shared, or no longer.")
    return share


def share_for_file(*, token: str) -> Share | None:
    return shares().select_related("image").filter(token=token).first()


def share_of_image(*, user, image_id: int) -> Share | None:
    """The owner's share of one of their images (None while it is private)."""
    return shares().filter(image_id=image_id, owner=user).first()


def explore_page(*, sort: str = "newest", model_slug: str | None = None, window: str = "week",
                 cursor: str | None = None, limit: int = PAGE_SIZE) -> Page:
    queryset = public_images()
    if model_slug:
        # By its id, known before planning, so the walk is one scan of share_public_model_newest.
        model_id = next((m.id for m in catalog_model_names() if m.slug == model_slug), None)
        queryset = queryset.filter(catalog_model_id=model_id) if model_id else queryset.none()
    if sort == "top":
        since = WINDOWS.get(window, WINDOWS["week"])
        if since is not None:
            queryset = queryset.filter(created_at__gte=timezone.now() - since)
        return _top_page(_for_tiles(queryset), cursor=cursor, limit=limit)
    return keyset_page(_for_tiles(queryset), cursor=cursor, limit=limit)


def artist_page(*, owner, cursor: str | None = None, limit: int = PAGE_SIZE) -> Page:
    return keyset_page(_for_tiles(public_images().filter(owner=owner)), cursor=cursor, limit=limit)


def _collection_shares(collection) -> QuerySet[Share]:
    """The public images of a collection, in the collection's order."""
    position = CollectionItem.objects.filter(collection=collection, image_id=OuterRef("image_id")).values("position")[:1]
    return (_for_tiles(public_images().filter(owner_id=collection.owner_id, image_id__in=CollectionItem.objects.filter(
        collection=collection, image__isnull=False).values("image_id"))).annotate(position=Subquery(position))
        .order_by("position", "id"))


def artist_collections(*, owner, limit: int = 12, covers: int = 4) -> list[dict]:
    """The collections an artist listed publicly, each with its first public images as covers;
    one with no public image in it is left out (there would be nothing to show)."""
    found = []
    for collection in Collection.objects.filter(owner=owner, is_public=True).order_by("-created_at", "-id")[:limit]:
        shown = list(_collection_shares(collection)[:covers])
        if shown:
            found.append({"collection": collection, "covers": shown})
    return found


def artist_collection(*, owner, collection_id) -> tuple[object, list[Share]]:
    """A collection the artist listed publicly and its public images (at most 200); not found otherwise."""
    collection = Collection.objects.filter(owner=owner, is_public=True, pk=collection_id).first()
    if collection is None:
        raise NotFoundError("This collection is not public, or no longer.")
    return collection, list(_collection_shares(collection)[:200])


def following_page(*, user, cursor: str | None = None, limit: int = PAGE_SIZE) -> Page:
    followees = Follow.objects.filter(follower=user).values("followee_id")
    return keyset_page(_for_tiles(public_images().filter(owner_id__in=followees)), cursor=cursor, limit=limit)


def model_samples(*, catalog_model, limit: int = 6) -> list[Share]:
    """The newest public images made with a model, for its catalogue page."""
    return list(_for_tiles(public_images().filter(catalog_model=catalog_model)).order_by("-created_at", "-id")[:limit])


def encode_top_cursor(like_count: int, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{like_count}|{pk}".encode()).decode().rstrip("=")


def _decode_top(cursor: str) -> tuple[int, int]:
    try:
        likes, pk = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|", 1)
        return int(likes), int(pk)
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursorError() from None


def _top_page(queryset: QuerySet[Share], *, cursor: str | None, limit: int) -> Page:
    """Keyset on (like_count, id), most liked first (the share_public_top index)."""
    if cursor:
        likes, pk = _decode_top(cursor)
        # One row comparison, so PostgreSQL starts the index scan right after the cursor: most
        # images share a like count (0 above all), and an OR would filter every tie behind it.
        queryset = queryset.filter(like_count__lte=likes).extra(
            where=['("gallery_share"."like_count", "gallery_share"."id") < (%s, %s)'], params=[likes, pk])
    rows = list(queryset.order_by("-like_count", "-id")[: limit + 1])
    last = rows[limit - 1] if len(rows) > limit else None
    return Page(items=rows[:limit], next_cursor=encode_top_cursor(last.like_count, last.pk) if last else None)


def liked_share_ids(*, user, shares_: list[Share]) -> set[int]:
    if not user.is_authenticated or not shares_:
        return set()
    return set(Like.objects.filter(user=user, share__in=[s.pk for s in shares_]).values_list("share_id", flat=True))


def is_following(*, user, owner) -> bool:
    return user.is_authenticated and Follow.objects.filter(follower=user, followee=owner).exists()


def artist_get(*, handle: str) -> Profile:
    from apps.accounts.selectors import profile_by_handle

    profile = profile_by_handle(handle=handle)
    if profile is None or not profile.user.is_active:
        raise NotFoundError("No artist has this handle.")
    return profile


def remix_data(*, token: str | None) -> dict:
    """The generate form's fields from a shared image whose author shows its prompt ({} otherwise)."""
    if not token:
        return {}
    share = shares().select_related("image__generation__catalog_model").filter(token=token).first()
    if share is None or not share.show_prompt:
        return {}
    generation = share.image.generation
    data = {"model": generation.catalog_model.slug, "prompt": generation.prompt,
            "negative_prompt": generation.negative_prompt, "seed": generation.seed}
    for key in ("aspect_ratio", "tier"):
        if generation.params.get(key):
            data[key] = generation.params[key]
    return data
