"""Sharing through the API: make one of your images private, unlisted or public; read the public
gallery (no key needed)."""

from datetime import datetime
from typing import Literal

from django.conf import settings
from django.urls import reverse
from ninja import Field, Query, Router, Schema

from . import links, selectors, services

router = Router(tags=["gallery"])


class ShareIn(Schema):
    visibility: Literal["private", "unlisted", "public"]
    show_prompt: bool = Field(True, description="Show the prompt and settings on the image's page (and offer Remix).")
    allow_original: bool = Field(False, description="Serve the full-size original, not only the previews.")


class ShareOut(Schema):
    visibility: str
    page_url: str | None = Field(description="The image's page; none while private.")
    preview_url: str | None = Field(description="Stable URL of the WebP preview, cacheable; none while private.")
    original_url: str | None


class GalleryItem(Schema):
    page_url: str
    thumbnail_url: str
    preview_url: str
    width: int
    height: int
    blurhash: str
    artist: str = Field(description="The artist's handle: their page is /u/<handle>.")
    like_count: int
    shared_at: datetime


class GalleryPage(Schema):
    items: list[GalleryItem]
    next_cursor: str | None


class GalleryQuery(Schema):
    sort: Literal["newest", "top"] = "newest"
    window: Literal["day", "week", "month", "all"] = "week"
    model: str | None = Field(None, description="A model's slug.")
    cursor: str | None = None


def _page_url(share) -> str:
    return settings.SITE_URL + reverse("gallery:image", kwargs={"token": share.token})


def share_out(share, visibility: str) -> dict:
    if share is None:
        return {"visibility": visibility, "page_url": None, "preview_url": None, "original_url": None}
    return {"visibility": share.visibility, "page_url": _page_url(share),
            "preview_url": links.share_file_url(share, "preview", absolute=True),
            "original_url": links.share_file_url(share, "original", absolute=True) or None}


@router.put("/images/{image_id}/share", response=ShareOut, summary="Share one of your images, or stop sharing it")
def image_share(request, image_id: int, payload: ShareIn):
    """`private` takes the image down at once: its page and file URLs answer 404 from the next request.
    `public` is refused (422, `not_clear_for_public`) for an image whose generation did not finish cleanly."""
    share = services.share_set(user=request.auth, image_id=image_id, visibility=payload.visibility,
                               show_prompt=payload.show_prompt, allow_original=payload.allow_original)
    return share_out(share, payload.visibility)


@router.get("/gallery", response=GalleryPage, summary="The public gallery", auth=None)
def gallery_list(request, query: Query[GalleryQuery]):
    """Public images, newest first or most liked among those made public in `window`; 24 a page,
    keyset-paginated. Public: no API key needed."""
    page = selectors.explore_page(sort=query.sort, window=query.window, model_slug=query.model, cursor=query.cursor)
    items = [{
        "page_url": _page_url(share), "thumbnail_url": links.share_file_url(share, "thumb", absolute=True),
        "preview_url": links.share_file_url(share, "preview", absolute=True), "width": share.image.width,
        "height": share.image.height, "blurhash": share.image.blurhash, "artist": share.handle,
        "like_count": share.like_count, "shared_at": share.created_at,
    } for share in page.items]
    return {"items": items, "next_cursor": page.next_cursor}
