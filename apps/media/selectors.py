import uuid

from django.db.models import QuerySet

from apps.core.exceptions import NotFoundError
from apps.core.pagination import Page, keyset_page

from .models import Kind, Upload


def _owned(user) -> QuerySet[Upload]:
    """The user's uploads, less what they deleted (apps/library)."""
    return Upload.objects.filter(owner=user, deleted_at=None)


def upload_get_for_user(*, user, upload_id, kind: str | None = None) -> Upload:
    """Another user's upload does not exist, as far as this user can tell."""
    try:
        queryset = _owned(user).filter(pk=uuid.UUID(str(upload_id)))
    except ValueError:
        queryset = Upload.objects.none()
    if kind:
        queryset = queryset.filter(kind=kind)
    upload = queryset.select_related("source").first()
    if upload is None:
        raise NotFoundError("Upload not found." if kind != Kind.PHOTO else "Photo not found.")
    return upload


def upload_list(*, user, kind: str | None = None, cursor: str | None = None, limit: int = 24) -> Page[Upload]:
    queryset = _owned(user)
    if kind:
        queryset = queryset.filter(kind=kind)
    return keyset_page(queryset, cursor=cursor, limit=limit)


def upload_masks_for_photo(*, user, photo: Upload, limit: int = 12) -> list[Upload]:
    return list(_owned(user).filter(kind=Kind.MASK, source=photo).order_by("-created_at", "-pk")[:limit])


def upload_results_for_photo(*, user, photo: Upload, limit: int = 12) -> list[Upload]:
    return list(
        _owned(user)
        .filter(kind=Kind.PHOTO, source=photo)
        .exclude(operation="")
        .order_by("-created_at", "-pk")[:limit]
    )
