import base64
import uuid
from dataclasses import dataclass

from django.db.models import Count, Prefetch, QuerySet, Sum

from apps.core.exceptions import NotFoundError
from apps.core.pagination import InvalidCursorError, Page, keyset_page
from apps.generations.models import ACTIVE, GenerationImage

from .models import Batch, BatchItem


@dataclass(frozen=True)
class Progress:
    counts: dict  # active, succeeded, failed, canceled, rejected
    ended: int
    total: int
    charged_credits: int = 0  # what its succeeded generations were charged (delivered images only)
    images_delivered: int = 0

    @property
    def fraction(self) -> float:
        return round(self.ended / self.total, 4) if self.total else 1.0


def batch_get_for_user(*, user, batch_id) -> Batch:
    try:
        batch = Batch.objects.filter(owner=user, pk=uuid.UUID(str(batch_id))).first()
    except ValueError:
        batch = None
    if batch is None:
        raise NotFoundError("Batch not found.")
    return batch


def batch_page(*, user, cursor: str | None, limit: int) -> Page[Batch]:
    return keyset_page(Batch.objects.filter(owner=user), cursor=cursor, limit=limit)


def batch_list_recent(*, user, limit: int = 20) -> list[Batch]:
    return list(Batch.objects.filter(owner=user).order_by("-created_at", "-pk")[:limit])


def batch_progress(batch: Batch) -> Progress:
    rows = BatchItem.objects.filter(batch=batch).values("generation__status").annotate(
        n=Count("pk"), charged=Sum("generation__charged_credits"), delivered=Sum("generation__images_delivered"),
    )
    counts = {"active": 0, "succeeded": 0, "failed": 0, "canceled": 0, "rejected": 0}
    charged = delivered = 0
    for row in rows:
        status = row["generation__status"]
        counts["active" if status in ACTIVE else status] += row["n"]
        charged += row["charged"] or 0
        delivered += row["delivered"] or 0
    return Progress(counts=counts, ended=batch.total - counts["active"], total=batch.total,
                    charged_credits=charged, images_delivered=delivered)


def _items(batch: Batch) -> QuerySet[BatchItem]:
    return BatchItem.objects.filter(batch=batch).select_related("generation__catalog_model").prefetch_related(
        Prefetch("generation__images", queryset=GenerationImage.objects.filter(deleted_at=None).order_by("index"))
    )


def batch_items_page(*, user, batch_id, cursor: str | None, limit: int) -> Page[BatchItem]:
    """In submission order; the cursor is the last index seen."""
    batch = batch_get_for_user(user=user, batch_id=batch_id)
    after = -1
    if cursor:
        try:
            after = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        except (ValueError, UnicodeDecodeError):
            raise InvalidCursorError() from None
        if not -1 <= after < 2**31:
            raise InvalidCursorError()
    rows = list(_items(batch).filter(index__gt=after).order_by("index")[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        next_cursor = base64.urlsafe_b64encode(str(rows[limit - 1].index).encode()).decode().rstrip("=")
    return Page(items=rows[:limit], next_cursor=next_cursor)


def batch_items_all(batch: Batch) -> QuerySet[BatchItem]:
    return _items(batch).order_by("index")
