from celery import shared_task

from . import services
from .live import review_live_publish


@shared_task(ignore_result=True)
def review_generation_task(*, generation_id: str) -> None:
    """The judges after the safety check, on a succeeded generation's images (idempotent)."""
    reviews = services.review_generation_run(generation_id=generation_id)
    if reviews:
        review_live_publish(generation_id=generation_id)
