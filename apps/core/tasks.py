"""Celery tasks of the shared kernel: take ids (or nothing), call one service, safe to run twice."""

from celery import shared_task

from .idempotency import idempotency_keys_purge


@shared_task(acks_late=True)
def idempotency_keys_purge_task() -> int:
    """Delete Idempotency-Keys older than 24 hours."""
    return idempotency_keys_purge()
