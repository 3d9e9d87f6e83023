"""The API's library objects."""

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from ninja import Field, Schema

from apps.core.files import signed_file_url

from .presenters import item_download_name
from .refs import ItemRef
from .selectors import LibraryItem


class ItemIn(Schema):
    kind: Literal["generation", "image", "photo"] = Field(
        description="`generation` (all its images), `image` (one generated image or clip) or `photo` (an upload).",
    )
    id: str = Field(description="A generation's or photo's UUID, or an image's number (`items[].id`).")

    def ref(self) -> ItemRef:
        return ItemRef.parse(self.kind, self.id)


class ItemsIn(Schema):
    items: list[ItemIn] = Field(min_length=1, max_length=200)

    def refs(self) -> list[ItemRef]:
        return [item.ref() for item in self.items]


class DeletionOut(Schema):
    deleted: int
    deleted_at: datetime
    undo_until: datetime = Field(description="POST /library/restore with the same items before this to undo.")


class RestoredOut(Schema):
    restored: int


class StarOut(Schema):
    starred: bool


class LibraryItemOut(Schema):
    kind: Literal["image", "photo"]
    id: str
    created_at: datetime
    content_type: str
    width: int
    height: int
    url: str = Field(description="Signed, short-lived link to the original.")
    preview_url: str
    thumbnail_url: str
    download_name: str = Field(description="A file name made of the prompt and a short id.")
    starred: bool
    prompt: str = Field(description="The generation's prompt; for a photo, the name it was uploaded with.")
    generation_id: UUID | None
    model: str | None = Field(description="The model's name, for generated images.")


class LibraryPage(Schema):
    items: list[LibraryItemOut]
    next_cursor: str | None


class LibraryQuery(Schema):
    q: str = Field("", max_length=200, description='Words of the prompt ("a phrase", -excluded).')
    kind: Literal["all", "image", "video", "photo"] = "all"
    model: str = Field("", description="A model slug.")
    status: str = Field("", description="Generations only: queued, running, succeeded, failed, canceled …")
    ratio: str = Field("", description="An aspect ratio, e.g. 16:9.")
    created_from: date | None = None
    created_to: date | None = None
    starred: bool = False
    collection: UUID | None = Field(None, description="Only items of this collection.")
    cursor: str | None = None
    limit: int = Field(48, ge=1, le=100)


class AddedOut(Schema):
    added: int = Field(description="Items added (those already in it are left where they are).")


class RemovedOut(Schema):
    removed: int


class CollectionIn(Schema):
    name: str = Field(min_length=1, max_length=100)


class CollectionChange(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    is_public: bool | None = Field(default=None, description="Listed on your artist page (only its public images show)")


class CollectionOut(Schema):
    id: UUID
    name: str
    is_public: bool
    created_at: datetime
    updated_at: datetime


class CollectionPage(Schema):
    items: list[CollectionOut]
    next_cursor: str | None


class ExportIn(Schema):
    notify: bool = Field(True, description="E-mail the link when the zip is ready.")


class ExportOut(Schema):
    id: UUID
    status: Literal["pending", "ready", "failed"]
    created_at: datetime
    finished_at: datetime | None
    files_count: int
    size_bytes: int
    url: str | None = Field(description="Signed, short-lived link to the zip once ready.")


def item_out(item: LibraryItem) -> dict:
    return {
        "kind": item.ref.kind, "id": item.ref.id, "created_at": item.created_at, "content_type": item.content_type,
        "width": item.width, "height": item.height, "url": signed_file_url(item.file, absolute=True),
        "preview_url": signed_file_url(item.display, absolute=True),
        "thumbnail_url": signed_file_url(item.card, absolute=True),
        "download_name": item_download_name(item),
        "starred": item.starred, "prompt": item.prompt,
        "generation_id": item.generation.id if item.generation else None,
        "model": item.model_label or None,
    }


def export_out(export) -> dict:
    return {
        "id": export.id, "status": export.status, "created_at": export.created_at, "finished_at": export.finished_at,
        "files_count": export.files_count, "size_bytes": export.size_bytes,
        "url": signed_file_url(export.file, absolute=True) if export.status == "ready" and export.file else None,
    }
