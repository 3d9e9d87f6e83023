from datetime import datetime
from uuid import UUID

from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from apps.core.files import signed_file_url

from . import selectors, services
from .models import Kind
from .uploads import upload_read

router = Router(tags=["uploads"])


class UploadOut(Schema):
    id: UUID
    kind: str
    width: int
    height: int
    format: str
    size_bytes: int
    sha256: str
    url: str = Field(description="Signed, short-lived link to the cleaned original (upright, no metadata).")
    preview_url: str | None = Field(description="WebP web preview; null until the media worker has made it.")
    thumbnail_url: str | None
    blurhash: str | None
    photo_id: UUID | None = Field(description="A mask's photo, or the photo an operation's result came from.")
    operation: str | None
    operation_params: dict
    created_at: datetime


class UploadPage(Schema):
    items: list[UploadOut]
    next_cursor: str | None


class UploadQuery(Schema):
    cursor: str | None = None
    limit: int = Field(20, ge=1, le=100)
    kind: Kind | None = None


class OperationIn(Schema):
    operation: str = Field(description="crop, resize, upscale, color, remove_background or convert.")
    params: dict = Field(default_factory=dict, description='e.g. {"aspect": "16:9"} or {"factor": 2}.')


def _link(path: str) -> str | None:
    return signed_file_url(path, absolute=True) if path else None


def upload_out(upload) -> dict:
    return {
        "id": upload.id,
        "kind": upload.kind,
        "width": upload.width,
        "height": upload.height,
        "format": upload.format,
        "size_bytes": upload.size_bytes,
        "sha256": upload.sha256,
        "url": signed_file_url(upload.file, absolute=True),
        "preview_url": _link(upload.preview),
        "thumbnail_url": _link(upload.thumbnail),
        "blurhash": upload.blurhash or None,
        "photo_id": upload.source_id,
        "operation": upload.operation or None,
        "operation_params": upload.operation_params,
        "created_at": upload.created_at,
    }


@router.post("/uploads", response={201: UploadOut}, summary="Upload an image")
def upload_create(
    request,
    file: File[UploadedFile] = None,
    kind: Form[str] = Kind.PHOTO,
    photo_id: Form[UUID | None] = None,
    allow_empty: Form[bool] = False,
):
    """Multipart: `file` (JPEG, PNG or WebP) and `kind` (photo, mask or reference). A mask also
    names its `photo_id` and must be that photo's size. The stored image is upright with all
    metadata removed. Too large: 413; anything else refused: 422."""
    content = upload_read(request, file)
    upload = services.upload_create(
        user=request.auth,
        content=content,
        kind=kind,
        filename=file.name if file else "",
        photo_id=photo_id,
        allow_empty_mask=allow_empty,
    )
    return Status(201, upload_out(upload))


@router.get("/uploads", response=UploadPage, summary="List your uploads, newest first")
def upload_list(request, query: Query[UploadQuery]):
    page = selectors.upload_list(user=request.auth, kind=query.kind, cursor=query.cursor, limit=query.limit)
    return {"items": [upload_out(u) for u in page.items], "next_cursor": page.next_cursor}


@router.get("/uploads/{upload_id}", response=UploadOut, summary="Get one upload")
def upload_get(request, upload_id: UUID):
    return upload_out(selectors.upload_get_for_user(user=request.auth, upload_id=upload_id))


@router.post("/uploads/{upload_id}/operations", response={201: UploadOut}, summary="Apply a local operation")
def upload_apply_operation(request, upload_id: UUID, payload: OperationIn):
    """Runs a local image operation on a photo and returns the result, stored as a new photo."""
    result = services.upload_apply_operation(
        user=request.auth, upload_id=upload_id, operation=payload.operation, params=payload.params
    )
    return Status(201, upload_out(result))
