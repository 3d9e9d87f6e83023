"""Locking, claiming and unblocking: how nodes are queued exactly once however many workers race.

Every change to a run's node states takes the run row's lock first, then the node's (`run_lock`).
A finishing node decrements each child's `waiting_on` and queues the child with a conditional
update (`pending` and `waiting_on = 0` → `queued`), under that lock, so a child is queued exactly
once however many parents finish at the same instant. Node work itself (image operations,
provider calls) runs outside any transaction, so branches run in parallel.
"""

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core.leases import NODE_RUN_LEASE, lease_abandoned

from .. import tasks
from ..engine.graph import Graph
from ..engine.registry import node_type_get
from ..models import NodeRun, NodeStatus, RunStatus, WorkflowRun, WorkflowVersion
from .announce import run_announce
from .billing import run_release_all


def _bump(*objects) -> None:
    for obj in objects:
        obj.revision += 1


def _runs_with_version():
    """Runs with what the engine reads beside them; the version's graph JSON is left unread, since
    `version.loaded` keeps each version's parsed graph per process (read only on a miss)."""
    return WorkflowRun.objects.select_related("version", "workflow", "owner").defer("version__graph")


_VERSIONS: dict = {}


def _with_version(run: WorkflowRun) -> WorkflowRun:
    """Give `run` its version, read once per process without its graph JSON: versions never change
    (`version.loaded` keeps the parsed graph)."""
    version = _VERSIONS.get(run.version_id)
    if version is None or version.workflow_id != run.workflow_id:
        if len(_VERSIONS) >= 512:
            _VERSIONS.clear()
        version = _VERSIONS[run.version_id] = WorkflowVersion.objects.defer("graph").get(pk=run.version_id)
    run.version = version
    return run


def _one(queryset):
    """The row a primary-key filter matches, or None: no ORDER BY (`first()` would sort by the
    model's ordering), which is cheaper to build and to run."""
    return next(iter(queryset.order_by()[:1]), None)


def run_lock(run_id, node_pk=None) -> tuple[WorkflowRun | None, NodeRun | None]:
    """Lock the run row, then (optionally) one of its node rows: the one lock order everywhere."""
    run = _one(_runs_with_version().select_for_update(of=("self",)).filter(pk=run_id))
    if run is None or node_pk is None:
        return run, None
    return run, _one(NodeRun.objects.select_for_update().filter(pk=node_pk, run=run))


def node_enqueue(node: NodeRun, *, countdown: float | None = None) -> None:
    """Send a queued node to the workers once the transaction commits."""
    node_type = node_type_get(node.type_key)
    queue = node_type.queue if node_type else "default"
    node_run_id = str(node.pk)
    transaction.on_commit(lambda: tasks.node_run_enqueue(node_run_id, queue=queue, countdown=countdown))


def children_unblock(run: WorkflowRun, graph: Graph, node: NodeRun) -> list[NodeRun]:
    """One parent succeeded: each child waits on one fewer. Exactly one caller queues each child.
    Two statements whatever the fan-out: the decrement says which children it made ready, and one
    conditional update queues those and returns their rows (UPDATE … RETURNING: PostgreSQL, and
    SQLite since 3.35)."""
    children = sorted(graph.children(node.node_id))
    if not children:
        return []
    table = connection.ops.quote_name(NodeRun._meta.db_table)
    run_id = NodeRun._meta.get_field("run").get_db_prep_value(run.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET waiting_on = waiting_on - 1"
            f" WHERE run_id = %s AND node_id IN ({', '.join(['%s'] * len(children))}) AND waiting_on > 0"
            " RETURNING id, status, waiting_on",
            [run_id, *children],
        )
        ready = [pk for pk, status, waiting_on in cursor.fetchall() if status == NodeStatus.PENDING and waiting_on == 0]
    if not ready:
        return []
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # The conditional update is the guard: only a pending child with nothing left to wait on moves.
    queued = sorted(NodeRun.objects.raw(
        f"UPDATE {table} SET status = %s, queued_at = %s, revision = revision + 1, updated_at = %s"
        f" WHERE id IN ({', '.join(['%s'] * len(ready))}) AND status = %s AND waiting_on = 0 RETURNING *",
        [NodeStatus.QUEUED, now, now, *ready, NodeStatus.PENDING],
    ), key=lambda child: child.node_id)
    run.nodes_active += len(queued)
    return queued


def run_settle_if_done(run: WorkflowRun) -> bool:
    """End the run when no node is queued or running: succeeded if every node did, else failed.
    Returns True if it ended. Call with the run locked, its tallies brought up to date: O(1)."""
    if run.status != RunStatus.RUNNING or run.nodes_active:
        return False
    failed = run.nodes_failed
    if run.nodes_succeeded == run.nodes_total:
        run.succeed()
        run.error_message = ""
    else:
        run.fail()
        run.error_message = f"{failed} step{'s' if failed != 1 else ''} failed. Retry {'them' if failed != 1 else 'it'} or resume the run."
    run.finished_at = timezone.now()
    run_release_all(run)
    return True


RUN_FIELDS = [
    "status", "held_credits", "charged_credits", "hold_seq", "revision", "error_message", "finished_at",
    "nodes_active", "nodes_succeeded", "nodes_failed", "nodes_cached", "updated_at",
]
# What a node's success changes on a run that goes on.
RUN_TALLY_FIELDS = ["held_credits", "charged_credits", "revision", "nodes_active", "nodes_succeeded", "nodes_cached",
                    "updated_at"]


def run_save(run: WorkflowRun, fields: list[str] = RUN_FIELDS) -> None:
    _bump(run)
    run.save(update_fields=fields)


NODE_FIELDS = [
    "status", "waiting_on", "attempt", "round_attempt", "model_index", "model", "progress", "held_credits",
    "charged_credits", "cached", "cached_from", "cache_key", "outputs", "meta", "generation", "error_code",
    "error_message", "revision", "queued_at", "started_at", "finished_at", "updated_at",
]


def node_save(node: NodeRun, fields: list[str] = NODE_FIELDS) -> None:
    _bump(node)
    node.save(update_fields=fields)


# What a claim changes: the shorter statement is cheaper to build and sends no JSON.
CLAIM_FIELDS = ["status", "attempt", "round_attempt", "model", "progress", "revision", "started_at", "finished_at",
                "updated_at"]


def node_claim(node_run_id) -> tuple[WorkflowRun, NodeRun] | None:
    """Take a queued node for this worker: queued → running, one more attempt. A second delivery of
    the same message finds it running and leaves it (a stale one is taken over: its worker died).

    Only the node's row is locked: claiming changes nothing else, and a cancel (which locks the
    run, then its nodes) either finds the node running or makes this claim see it canceled."""
    with transaction.atomic():
        node = _one(
            NodeRun.objects.select_for_update(of=("self",)).select_related("run", "run__owner").filter(pk=node_run_id)
        )
        if node is None:
            return None
        run = _with_version(node.run)  # its workflow is read only if needed (a ledger memo)
        if run.status != RunStatus.RUNNING:
            return None
        now = timezone.now()
        # Its worker died: the run lease it held is gone (or, where leases can't be seen, it's long overdue).
        stale = (
            node.status == NodeStatus.RUNNING and node.generation_id is None and node.started_at
            and ((now - node.started_at).total_seconds() > settings.WORKFLOW_NODE_STALE_SECONDS
                 or lease_abandoned(node.pk, namespace=NODE_RUN_LEASE))
        )
        if node.status != NodeStatus.QUEUED and not stale:
            return None
        if node.status == NodeStatus.QUEUED:
            node.start()
        node.attempt += 1
        node.round_attempt += 1
        node.started_at = now
        node.progress = 0
        node.finished_at = None
        graph = run.version.loaded
        spec = graph.nodes[node.node_id]
        models = graph.node_type(node.node_id).models(spec["params"], spec["fallback_models"])
        node.model = models[min(node.model_index, len(models) - 1)] if models else ""
        node_save(node, CLAIM_FIELDS)
        run_announce(run, node)
    return run, node


