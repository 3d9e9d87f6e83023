"""The API's batch object, shared by the endpoints and the outgoing `batch.finished` webhook."""

from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.urls import reverse
from ninja import Field, Schema

from . import selectors


class Counts(Schema):
    active: int
    succeeded: int
    failed: int
    canceled: int
    rejected: int


class BatchOut(Schema):
    id: UUID
    name: str
    source: str
    status: str = Field(description="running, finished or canceled.")
    total: int
    quoted_credits: int = Field(description="What the whole batch reserved at submit.")
    charged_credits: int = Field(
        description="What its finished generations were charged: the quote for the images each delivered."
    )
    images_delivered: int = Field(description="Images its finished generations delivered.")
    counts: Counts
    progress: float = Field(description="Share of the batch's generations that have ended, 0 to 1.")
    download_url: str = Field(description="All finished images as one zip, with a manifest.csv.")
    created_at: datetime
    finished_at: datetime | None


def batch_out(batch) -> dict:
    progress = selectors.batch_progress(batch)
    return {
        "id": batch.pk, "name": batch.name, "source": batch.source, "status": batch.status, "total": batch.total,
        "quoted_credits": batch.quoted_credits, "charged_credits": progress.charged_credits,
        "images_delivered": progress.images_delivered, "counts": progress.counts, "progress": progress.fraction,
        "download_url": settings.SITE_URL + reverse("api:batch_download", kwargs={"batch_id": batch.pk}),
        "created_at": batch.created_at, "finished_at": batch.finished_at,
    }
