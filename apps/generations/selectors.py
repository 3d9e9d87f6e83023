import uuid

from django.db.models import Count, F, Prefetch, Q, QuerySet

from apps.core.exceptions import NotFoundError
from apps.core.pagination import Page, keyset_page

from .models import Generation, GenerationImage, Status


def _owned(user) -> QuerySet[Generation]:
    """The user's generations and their images, less what they deleted (apps/library)."""
    return Generation.objects.filter(owner=user, deleted_at=None).select_related("catalog_model", "owner").prefetch_related(
        Prefetch("images", queryset=GenerationImage.objects.filter(deleted_at=None).order_by("index").select_related("review"))
    )


def generation_get_for_user(*, user, generation_id) -> Generation:
    """Another user's generation does not exist, as far as this user can tell."""
    try:
        generation = _owned(user).filter(pk=uuid.UUID(str(generation_id))).first()
    except ValueError:
        generation = None
    if generation is None:
        raise NotFoundError("Generation not found.")
    return generation


def generation_card_rows(*, user, cursor: str | None = None, limit: int = 24) -> Page:
    """A page of the user's generations as light rows (pk, created_at, status, revision,
    updated_at, catalog_updated_at): enough to find their cached cards or API items without
    loading them."""
    rows = Generation.objects.filter(owner=user, deleted_at=None).annotate(catalog_updated_at=F("catalog_model__updated_at"))
    return keyset_page(
        rows.values_list("pk", "created_at", "status", "revision", "updated_at", "catalog_updated_at", named=True),
        cursor=cursor, limit=limit,
    )


def generation_list_by_ids(*, user, ids) -> list[Generation]:
    """The user's generations among `ids`, ready to render (images and catalogue model loaded)."""
    return list(_owned(user).filter(pk__in=ids))


def generation_recent(*, user, limit: int = 6) -> list[Generation]:
    return list(_owned(user).order_by("-created_at", "-pk")[:limit])


def preset_version_usage(*, version_ids) -> dict[str, dict]:
    """Per prompt preset version (by id): generations made with it and how many succeeded."""
    rows = (
        Generation.objects.filter(params__preset_version__in=[str(v) for v in version_ids])
        .values("params__preset_version")
        .annotate(uses=Count("id"), succeeded=Count("id", filter=Q(status=Status.SUCCEEDED)))
    )
    return {row["params__preset_version"]: {"uses": row["uses"], "succeeded": row["succeeded"]} for row in rows}
