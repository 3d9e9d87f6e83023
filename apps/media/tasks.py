"""Celery tasks on the `media` queue: take ids, call one service, safe to run twice."""

import logging

from celery import shared_task

from apps.imaging.exceptions import ImagingError

from . import services

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=4)
def upload_derivatives_task(self, *, upload_id: str) -> None:
    try:
        services.upload_derivatives_make(upload_id=upload_id)
    except ImagingError:
        # The stored file itself is the problem; trying again will not help. Pages fall back to it.
        logger.warning("upload derivatives refused", extra={"upload": upload_id}, exc_info=True)
    except Exception as exc:
        # Storage or worker trouble: back off and try again (5 s, 10 s, 20 s, 40 s).
        raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
