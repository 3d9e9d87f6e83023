from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def review_generation_task(*, generation_id: str) -> None:
    """The judges after the safety check, on a succeeded generation's images (idempotent)."""
    services.review_generation_run(generation_id=generation_id)
