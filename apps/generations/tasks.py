"""Celery tasks: take ids, call one service, safe to run twice."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from apps.core import leases
from apps.providers import router

from . import recovery
from .services import dispatch, finishing, reaping, state, tracking

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def generation_run_task(*, generation_id: str) -> None:
    try:
        with leases.lease(generation_id) as held:
            if not held:
                return  # a live worker is on this job already (a redelivered or re-driven copy)
            if recovery.generation_attempt_pending(generation_id):
                return  # it waits out an outage: its scheduled attempt runs it when due
            dispatch.generation_run(generation_id=generation_id)
    except (OperationalError, InterfaceError):
        # The database went away mid-run: not the job's fault. Try again shortly; the reaper re-drives
        # it too, once the lease this connection held is gone.
        logger.warning("generation run lost its database connection", extra={"generation": generation_id})
        connection.close()
        generation_run_task.apply_async(kwargs={"generation_id": generation_id}, countdown=5)
    except Exception:
        # A bug must not leave the job hanging or the credits held.
        logger.exception("generation run crashed", extra={"generation": generation_id})
        finishing.generation_fail(
            generation_id=generation_id, code="internal_error", message=state.INTERNAL_ERROR_MESSAGE
        )


@shared_task(acks_late=True, reject_on_worker_lost=True)
def generation_poll_task(*, generation_id: str) -> None:
    """Poll a provider job; re-schedules itself until the job ends (webhooks may never come)."""
    try:
        with leases.lease(generation_id) as held:
            if not held:
                return  # another poll or run is following this job: one chain is enough
            again = tracking.generation_poll(generation_id=generation_id)
            if again:
                recovery.generation_touch(generation_id)
    except (OperationalError, InterfaceError):
        connection.close()
        again = True  # the database went away: ask again once it is back
    except Exception:
        logger.exception("generation poll crashed", extra={"generation": generation_id})
        again = True  # a transient bug or outage; the deadline still bounds the job
    if again:
        generation_poll_task.apply_async(
            kwargs={"generation_id": generation_id}, countdown=settings.PROVIDER_POLL_INTERVAL
        )


# Tries of a stored webhook while another worker holds its job (a poll or the run, which follow
# the job too), PROVIDER_POLL_INTERVAL apart.
WEBHOOK_APPLY_ATTEMPTS = 3


@shared_task(acks_late=True, reject_on_worker_lost=True)
def generation_webhook_apply_task(*, delivery_id: int, attempt: int = 1) -> None:
    """A provider's webhook, stored by the endpoint: download and finish here, not in the request."""
    if not tracking.generation_webhook_apply(delivery_id=delivery_id) and attempt < WEBHOOK_APPLY_ATTEMPTS:
        generation_webhook_apply_task.apply_async(
            kwargs={"delivery_id": delivery_id, "attempt": attempt + 1}, countdown=settings.PROVIDER_POLL_INTERVAL
        )


@shared_task(acks_late=True, reject_on_worker_lost=True)
def generation_orphan_cancel_task(*, provider: str, provider_job_id: str) -> None:
    """A job made for a create whose answer was lost, surfacing after its generation moved on:
    stop it at the provider (best effort)."""
    router.job_cancel(provider, provider_job_id)


@shared_task(acks_late=True)
def generations_reap_stuck_task() -> dict:
    return reaping.generations_reap_stuck()
