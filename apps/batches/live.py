"""Live updates of batches: `batch.progress` and `batch.finished` to the owner's browsers and API
clients, a subscriber of the batch events (after commit)."""

from apps.core import events
from apps.realtime.publish import publish_to_user

from . import selectors
from .models import Batch


def batch_event_data(batch: Batch) -> dict:
    progress = selectors.batch_progress(batch)
    return {"id": str(batch.pk), "status": batch.status, "total": batch.total, **progress.counts,
            "progress": progress.fraction}


def batch_publish(event: events.BatchProgressed | events.BatchFinished) -> None:
    batch = Batch.objects.filter(pk=event.batch_id).first()
    if batch is not None:
        publish_to_user(user_id=batch.owner_id, event=event.name, data=batch_event_data(batch))
