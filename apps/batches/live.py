"""Live updates of batches: `batch.progress` and `batch.finished` to the owner's browsers and API
clients, a subscriber of the batch events (after commit)."""

from django.template.loader import render_to_string

from apps.core import events
from apps.realtime.publish import publish_to_user

from . import selectors
from .models import Batch


def batch_event_data(batch: Batch, progress: selectors.Progress | None = None) -> dict:
    progress = progress or selectors.batch_progress(batch)
    return {"id": str(batch.pk), "status": batch.status, "total": batch.total, **progress.counts,
            "progress": progress.fraction}


def batch_publish(event: events.BatchProgressed | events.BatchFinished) -> None:
    """The typed event, and the batch page's progress header out of band, so its counts move with
    the cards (the page's polling is the safety net)."""
    batch = Batch.objects.filter(pk=event.batch_id).first()
    if batch is not None:
        progress = selectors.batch_progress(batch)
        html = render_to_string("batches/_progress.html", {"batch": batch, "progress": progress, "oob": True})
        publish_to_user(user_id=batch.owner_id, event=event.name, data=batch_event_data(batch, progress), html=html)
