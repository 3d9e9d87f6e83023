"""Leases and the reaper's re-drive: getting abandoned jobs going again, never twice at once.

A process working on a generation (a run, a poll, a finish) holds a PostgreSQL session advisory
lock on it: its lease. When the process dies — kill -9, out of memory, a lost database connection —
PostgreSQL drops the lock with the session, so "active, but nobody holds its lease" means the job
was abandoned, whatever its age. Age alone can't tell a dead worker from a slow provider call.

Celery's late acks bring most abandoned messages back (see the broker transport options in
settings); this covers the rest — messages lost with a Redis restart, a worker killed in
`finishing`, a poll chain that died — and refuses a second concurrent worker on the same job.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.leases import STUCK_AFTER, lease_abandoned

logger = logging.getLogger(__name__)

# A live poll chain touches its job at least this often, so the reaper leaves it alone.
POLL_HEARTBEAT = timedelta(seconds=5)


def _broker_backlog(task) -> int:
    """Messages waiting in the queue `task` is routed to (0 when the broker can't say)."""
    from celery import current_app

    queue = current_app.amqp.router.route({}, task.name)["queue"].name
    try:
        with current_app.connection_for_read() as conn:
            return conn.default_channel.queue_declare(queue=queue, passive=True).message_count
    except Exception:  # not declared yet, the broker is down, or it can't count: nothing to wait behind
        return 0


def generation_touch(generation_id) -> None:
    """A poll chain's heartbeat: tells the reaper this job is being followed."""
    from .models import ACTIVE, Generation

    now = timezone.now()
    Generation.objects.filter(pk=generation_id, status__in=ACTIVE, updated_at__lt=now - POLL_HEARTBEAT).update(
        updated_at=now
    )


def generation_attempt_pending(generation_id) -> bool:
    """True while the job waits out an outage and its scheduled attempt is not due yet: a run that
    comes earlier (a stray copy, a redelivery) leaves the job to the attempt that owns it."""
    from .models import Generation

    return Generation.objects.filter(pk=generation_id, next_attempt_at__gt=timezone.now()).exists()


def generations_redrive_stuck(*, now=None) -> int:
    """Re-send every active job whose worker is gone: queued ones whose message was lost, running
    ones nobody holds, and ones a dead worker left half-saved in `finishing` (back to `dispatched`
    on the same route: a job at a provider is polled again, a blocking one is run again)."""
    from . import tasks
    from .models import Generation, Status
    from .services.state import generation_lock, generation_save

    now = now or timezone.now()
    # A queued job with no worker on it this long had its message lost — or waits in a backlog, where
    # its message most likely still is: while the queue holds work, only long waits are re-sent (a
    # copy is harmless, the lease and the state machine drop it, but a copy per waiting job is not).
    waited = settings.GENERATIONS_REDRIVE_QUEUED_SECONDS
    if _broker_backlog(tasks.generation_run_task):
        waited *= 4
    queued_before = now - timedelta(seconds=waited)
    queued = Generation.objects.filter(
        status=Status.QUEUED, deadline_at__gte=now, created_at__lt=queued_before, updated_at__lt=queued_before,
    ).values_list("pk", flat=True)
    # A job waiting out an outage has its next attempt scheduled: it is left alone until that attempt
    # is overdue (lost with a broker restart, say), like a hand-off.
    started = Generation.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=now - STUCK_AFTER),
        status__in=[Status.DISPATCHED, Status.RUNNING, Status.FINISHING], deadline_at__gte=now,
        updated_at__lt=now - STUCK_AFTER,
    ).values_list("pk", flat=True)
    candidates = [(pk, True) for pk in queued] + [(pk, False) for pk in started]
    redriven = 0
    for generation_id, is_queued in candidates:
        if not is_queued and not lease_abandoned(generation_id):
            continue
        with transaction.atomic():
            generation = generation_lock(generation_id)
            if generation is None or generation.status not in (
                Status.QUEUED, Status.DISPATCHED, Status.RUNNING, Status.FINISHING
            ):
                continue
            if generation.status == Status.FINISHING:
                # Its finisher died mid-save: start the finish over (stored files are overwritten in place).
                generation.reroute()
                generation_save(generation)
            else:
                Generation.objects.filter(pk=generation_id).update(updated_at=now)
            # A job at a provider is followed by polling; anything else is (re)run from its route.
            polling = bool(generation.provider_job_id) and generation.status == Status.RUNNING
            task = tasks.generation_poll_task if polling else tasks.generation_run_task
            # A job a dead worker dropped goes ahead of the backlog; a lost queued one keeps its turn.
            priority = None if is_queued else settings.TASK_PRIORITY_RECOVERY
            transaction.on_commit(
                lambda t=task, g=str(generation_id), p=priority: t.apply_async(kwargs={"generation_id": g}, priority=p)
            )
        logger.info("generation re-driven", extra={"generation": str(generation_id), "status": generation.status})
        redriven += 1
    return redriven
