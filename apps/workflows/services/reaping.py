"""Housekeeping: re-send nodes whose enqueue was lost or whose worker died."""

from django.conf import settings
from django.utils import timezone

from apps.core.leases import NODE_RUN_LEASE, STUCK_AFTER, lease_abandoned

from .. import tasks
from ..engine.registry import node_type_get
from ..models import NodeRun, NodeStatus, RunStatus


def workflows_reap_stuck() -> dict:
    """Re-send nodes whose enqueue was lost, and nodes whose worker died mid-run (late ack covers
    most of those; this covers the rest)."""
    now = timezone.now()
    lost = list(
        NodeRun.objects.filter(status=NodeStatus.QUEUED, queued_at__lt=now - timezone.timedelta(minutes=2),
                               run__status=RunStatus.RUNNING).values_list("pk", "type_key")
    )
    running = NodeRun.objects.filter(status=NodeStatus.RUNNING, generation__isnull=True, run__status=RunStatus.RUNNING)
    stale = list(
        running.filter(started_at__lt=now - timezone.timedelta(seconds=settings.WORKFLOW_NODE_STALE_SECONDS))
        .values_list("pk", "type_key")
    )
    # Sooner for a node whose worker is known dead: nobody holds its run lease.
    stale += [
        (pk, type_key) for pk, type_key in running.filter(
            started_at__gte=now - timezone.timedelta(seconds=settings.WORKFLOW_NODE_STALE_SECONDS),
            started_at__lt=now - STUCK_AFTER,
        ).values_list("pk", "type_key")
        if lease_abandoned(pk, namespace=NODE_RUN_LEASE)
    ]
    following = list(
        NodeRun.objects.filter(status=NodeStatus.RUNNING, generation__isnull=False,
                               updated_at__lt=now - timezone.timedelta(minutes=2)).values_list("pk", flat=True)
    )
    for pk, type_key in lost:
        node_type = node_type_get(type_key)
        tasks.node_run_enqueue(str(pk), queue=node_type.queue if node_type else "default")
    for pk, type_key in stale:
        node_type = node_type_get(type_key)
        tasks.node_run_enqueue(str(pk), queue=node_type.queue if node_type else "default", recovery=True)
    for pk in following:
        tasks.node_follow_enqueue(str(pk))
    return {"redriven": len(lost) + len(stale), "followed": len(following)}

