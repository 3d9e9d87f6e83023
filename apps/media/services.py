"""Writes for media: create an upload, make its derivatives, apply an operation."""

import hashlib
import logging
import re
import sys
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.registry import NotRegistered
from apps.imaging.cleaning import CleanImage, image_clean, image_encode
from apps.imaging.derivatives import derivatives_make
from apps.imaging.operations import OPERATIONS, OperationError

from . import selectors
from .exceptions import (
    InvalidKindError,
    InvalidOperationError,
    MaskPhotoRequiredError,
    NotAPhotoError,
    OperationFailedError,
    ResultTooLargeError,
)
from .models import Kind, Upload
from .naming import derived_name
from .storage import file_delete, file_read, file_write, original_path, preview_path, thumbnail_path
from .validation import image_validate, mask_validate

__all__ = ["mask_validate", "upload_apply_operation", "upload_create", "upload_derivatives_make"]

logger = logging.getLogger(__name__)

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


def _display_name(filename: str) -> str:
    name = _UNSAFE_NAME.sub(" ", (filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip()
    return name[:200]


def _enqueue_derivatives(upload_id) -> None:
    from .tasks import upload_derivatives_task

    upload_derivatives_task.delay(upload_id=str(upload_id))


def upload_store(
    *,
    owner,
    kind: str,
    clean: CleanImage,
    source: Upload | None = None,
    operation: str = "",
    operation_params: dict | None = None,
    original_name: str = "",
) -> Upload:
    """Store a cleaned image as the owner's upload (a photo, a mask, or a step's output)."""
    upload_id = uuid.uuid4()
    path = file_write(original_path(owner_id=owner.pk, upload_id=upload_id, fmt=clean.format), clean.content)
    try:
        with transaction.atomic():
            upload = Upload.objects.create(
                id=upload_id,
                owner=owner,
                kind=kind,
                file=path,
                format=clean.format,
                width=clean.width,
                height=clean.height,
                sha256=hashlib.sha256(clean.content).hexdigest(),
                size_bytes=len(clean.content),
                original_name=original_name,
                source=source,
                operation=operation,
                operation_params=operation_params or {},
            )
            transaction.on_commit(lambda: _enqueue_derivatives(upload_id))
    except Exception:
        file_delete(path)
        raise
    return upload


def upload_create(
    *,
    user,
    content: bytes,
    kind: str = Kind.PHOTO,
    filename: str = "",
    photo_id=None,
    allow_empty_mask: bool = False,
) -> Upload:
    """Validate untrusted image bytes, clean them (upright, sRGB, no metadata) and store them.

    A mask (kind="mask") belongs to one of the user's photos (`photo_id`): it must be the photo's
    size and, unless `allow_empty_mask`, paint something. It is stored as an 8-bit greyscale PNG.
    Derivatives are made by the media worker after commit.
    """
    if kind not in Kind.values:
        raise InvalidKindError()
    photo = None
    if kind == Kind.MASK:
        if not photo_id:
            raise MaskPhotoRequiredError()
        photo = selectors.upload_get_for_user(user=user, upload_id=photo_id, kind=Kind.PHOTO)
    image = image_validate(content)
    fmt = image.format
    cleaned = image_clean(image)
    if photo is not None:
        cleaned, fmt = mask_validate(cleaned, photo, allow_empty=allow_empty_mask), "PNG"
    clean = CleanImage(image=cleaned, content=image_encode(cleaned, fmt), format=fmt)
    return upload_store(
        owner=user, kind=kind, clean=clean, source=photo, original_name=_display_name(filename)
    )


def upload_derivatives_make(*, upload_id) -> Upload | None:
    """Make and store the preview, thumbnail and BlurHash. Safe to run twice: a finished upload
    is left alone, file names are fixed, and only the first run to finish records them."""
    upload = Upload.objects.filter(pk=upload_id).first()
    if upload is None or upload.derivatives_at is not None:
        return upload
    content = file_read(upload.file)
    made = derivatives_make(content)
    if made.sha256 != upload.sha256:
        logger.warning("stored file does not match its checksum", extra={"upload": str(upload.pk)})
    fields = {
        "preview": file_write(preview_path(owner_id=upload.owner_id, upload_id=upload.pk), made.preview_webp),
        "thumbnail": file_write(
            thumbnail_path(owner_id=upload.owner_id, upload_id=upload.pk), made.thumbnail_webp
        ),
        "blurhash": made.blurhash,
        "derivatives_at": timezone.now(),
    }
    Upload.objects.filter(pk=upload.pk, derivatives_at__isnull=True).update(**fields)
    upload.refresh_from_db()
    return upload


def upload_apply_operation(*, user, upload_id, operation: str, params: dict | None = None) -> Upload:
    """Run one of `operations.OPERATIONS` on a photo and store the result as a new photo."""
    source = selectors.upload_get_for_user(user=user, upload_id=upload_id)
    if source.kind == Kind.MASK:
        raise NotAPhotoError()
    try:
        spec = OPERATIONS.get(operation)
    except NotRegistered:
        raise InvalidOperationError() from None
    try:
        cleaned = spec.clean(params)
    except OperationError as error:
        raise InvalidOperationError(f"{spec.label}: {error}") from None
    width, height = spec.output_size((source.width, source.height), cleaned)
    if width * height > settings.MEDIA_MAX_PIXELS:
        raise ResultTooLargeError(width=width, height=height, limit=settings.MEDIA_MAX_PIXELS)
    # The stored original was validated and cleaned on the way in; decode it with the same guards.
    image = image_validate(file_read(source.file), max_bytes=sys.maxsize)
    try:
        result = spec.apply(image, **cleaned)
    except OperationError as error:
        logger.info(
            "operation failed", extra={"upload": str(source.pk), "operation": operation, "why": str(error)}
        )
        raise OperationFailedError(f"{spec.label} did not work on this photo: {error}.") from None
    result.info = {}
    fmt = spec.output_format(source.format, cleaned)
    clean = CleanImage(image=result, content=image_encode(result, fmt), format=fmt)
    return upload_store(
        owner=user,
        kind=source.kind,
        clean=clean,
        source=source,
        operation=spec.key,
        operation_params=cleaned,
        original_name=derived_name(source.original_name, spec.key, cleaned),
    )
