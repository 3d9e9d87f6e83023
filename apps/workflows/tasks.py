"""Celery tasks: take ids, call one service, safe to run twice.

`node_run_enqueue` sends a node to the queue its type names ("media" for local image work, "io"
for provider calls). With CELERY_TASK_ALWAYS_EAGER (unit tests) a task sent from inside another
would run nested inside it, so a long chain would recurse once per node; instead, tasks sent
while one is running in this thread wait in a queue that the outermost call drains in order.
"""

import logging
import threading
from collections import deque

from celery import current_app, shared_task
from django.conf import settings

logger = logging.getLogger(__name__)

_eager = threading.local()


def _send(task, *, kwargs: dict, queue: str | None = None, countdown: float | None = None,
          priority: int | None = None) -> None:
    if not current_app.conf.task_always_eager:
        options = {"queue": queue} if queue else {}
        if countdown:
            options["countdown"] = countdown
        if priority is not None:
            options["priority"] = priority
        task.apply_async(kwargs=kwargs, **options)
        return
    pending = getattr(_eager, "pending", None)
    if pending is not None:
        pending.append((task, kwargs))
        return
    _eager.pending = deque([(task, kwargs)])
    try:
        while _eager.pending:
            next_task, next_kwargs = _eager.pending.popleft()
            next_task.apply(kwargs=next_kwargs, throw=True)
    finally:
        _eager.pending = None


def node_run_enqueue(node_run_id: str, *, queue: str = "default", countdown: float | None = None,
                     recovery: bool = False) -> None:
    """`recovery`: a node a dead worker dropped, sent ahead of the backlog (see the Celery settings)."""
    _send(workflow_node_run_task, kwargs={"node_run_id": node_run_id}, queue=queue, countdown=countdown,
          priority=settings.TASK_PRIORITY_RECOVERY if recovery else None)


def node_follow_enqueue(node_run_id: str, *, polls: int = 0, countdown: float | None = None) -> None:
    _send(workflow_node_follow_task, kwargs={"node_run_id": node_run_id, "polls": polls}, queue="io",
          countdown=countdown)


def node_follow_now(node_run_id: str) -> None:
    """One check at once, because the generation said it ended; the polling chain goes on apart."""
    _send(workflow_node_follow_task, kwargs={"node_run_id": node_run_id, "once": True}, queue="io")


@shared_task(acks_late=True, reject_on_worker_lost=True)
def workflow_node_run_task(*, node_run_id: str) -> None:
    from apps.core.leases import NODE_RUN_LEASE, lease

    from . import services

    try:
        with lease(node_run_id, namespace=NODE_RUN_LEASE) as held:
            if not held:
                return  # a live worker runs this node (a redelivered copy of its message)
            services.node_run_execute(node_run_id=node_run_id)
    except Exception:
        # A bug in the engine must not leave the node running and the run open forever.
        logger.exception("workflow node task crashed", extra={"node_run": node_run_id})
        services.node_crashed(node_run_id=node_run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def workflow_node_follow_task(*, node_run_id: str, polls: int = 0, once: bool = False) -> None:
    """Follow a node's generation until it ends; bounded, so a node can't wait forever. `once`: a
    single check sent by the generation-ended hook, which schedules no further polls."""
    from . import services

    try:
        again = services.node_follow(node_run_id=node_run_id)
    except Exception:
        logger.exception("workflow node follow crashed", extra={"node_run": node_run_id})
        again = True
    if not again or once:
        return
    if polls + 1 >= settings.WORKFLOW_FOLLOW_MAX_POLLS:
        services.node_follow_gave_up(node_run_id=node_run_id)
        return
    node_follow_enqueue(node_run_id, polls=polls + 1, countdown=settings.WORKFLOW_FOLLOW_INTERVAL)


@shared_task(acks_late=True)
def workflows_reap_stuck_task() -> dict:
    from . import services

    return services.workflows_reap_stuck()
