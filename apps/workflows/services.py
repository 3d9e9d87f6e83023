"""Every write to workflows and runs: save versions, start, execute nodes, finish, retry, cancel.

Concurrency: every change to a run's node states takes the run row's lock first, then the node's
(`_locked`). A finishing node decrements each child's `waiting_on` and queues the child with a
conditional update (`pending` and `waiting_on = 0` → `queued`), under that lock, so a child is
queued exactly once however many parents finish at the same instant. Node work itself (image
operations, provider calls) runs outside any transaction, so branches run in parallel.
"""

import copy
import logging
import uuid

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from apps.core.exceptions import ApplicationError, NotFoundError
from apps.credits import selectors as credits_selectors
from apps.credits import services as credits_services
from apps.credits import workflow_ledger
from apps.core.leases import NODE_RUN_LEASE, STUCK_AFTER, lease_abandoned
from apps.realtime.publish import publish_to_user

from . import selectors, tasks
from .engine.cache import cache_key
from .engine.graph import Graph, GraphInvalid, graph_validate
from .engine.registry import node_type_get
from .engine.types import NodeContext, NodeFailed, NodePending, NodeResult
from .exceptions import (
    NodeNotRetryableError,
    NoVersionError,
    RunNotCancelableError,
    RunNotResumableError,
    WorkflowInvalidError,
    WorkflowNameError,
)
from .models import (
    NODE_OPEN,
    NodeRun,
    NodeStatus,
    RunStatus,
    StarterWorkflow,
    Workflow,
    WorkflowRun,
    WorkflowVersion,
)

logger = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "Something went wrong on our side while running this step."
MAX_TEXT_INPUT = 2000


# ---------------------------------------------------------------- workflows and versions


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise WorkflowNameError()
    return name


def _validated(graph) -> Graph:
    try:
        return graph_validate(graph, max_nodes=settings.WORKFLOW_MAX_NODES)
    except GraphInvalid as invalid:
        raise WorkflowInvalidError([error.as_json() for error in invalid.errors]) from None


def workflow_create(*, user, name: str, description: str = "", graph: dict | None = None,
                    starter_key: str = "") -> Workflow:
    """A new workflow; with `graph`, its first version (validated: nothing is created if it is not)."""
    name = _clean_name(name)
    validated = _validated(graph) if graph is not None else None
    with transaction.atomic():
        workflow = Workflow.objects.create(
            owner=user, name=name, description=(description or "").strip()[:500], starter_key=starter_key,
        )
        if validated is not None:
            _version_add(workflow, validated)
    return workflow


def _version_add(workflow: Workflow, graph: Graph) -> WorkflowVersion:
    number = workflow.latest_version_number + 1
    version = WorkflowVersion.objects.create(workflow=workflow, number=number, graph=graph.as_json())
    workflow.latest_version_number = number
    workflow.save(update_fields=["latest_version_number", "updated_at"])
    return version


def workflow_version_create(*, user, workflow_id, graph: dict) -> WorkflowVersion:
    """Save `graph` as the workflow's next version. Errors point at nodes; nothing is saved then."""
    selectors.workflow_get_for_user(user=user, workflow_id=workflow_id)  # another's: 404 before the graph is judged
    validated = _validated(graph)
    with transaction.atomic():
        workflow = selectors.workflow_get_for_user(user=user, workflow_id=workflow_id, lock=True)
        return _version_add(workflow, validated)


def workflow_update(*, user, workflow_id, name: str, description: str = "") -> Workflow:
    workflow = selectors.workflow_get_for_user(user=user, workflow_id=workflow_id)
    workflow.name = _clean_name(name)
    workflow.description = (description or "").strip()[:500]
    workflow.save(update_fields=["name", "description", "updated_at"])
    return workflow


def workflow_delete(*, user, workflow_id) -> None:
    workflow = selectors.workflow_get_for_user(user=user, workflow_id=workflow_id)
    if workflow.runs.filter(status=RunStatus.RUNNING).exists():
        raise ApplicationError("Cancel its running runs first.", code="conflict")
    workflow.runs.all().delete()
    workflow.delete()


def workflow_from_starter(*, user, starter_key: str) -> Workflow:
    starter = StarterWorkflow.objects.filter(key=starter_key).first()
    if starter is None:
        raise NotFoundError("Starter workflow not found.")
    return workflow_create(user=user, name=starter.name, description=starter.description, graph=starter.graph,
                           starter_key=starter.key)


# ---------------------------------------------------------------- quoting and inputs


def graph_prices(graph: Graph) -> dict[str, int]:
    return {
        node_id: graph.node_type(node_id).price(node["params"], node["fallback_models"])
        for node_id, node in graph.nodes.items()
    }


def workflow_quote(*, graph: Graph) -> int:
    return sum(graph_prices(graph).values())


def _node_name(graph: Graph, node_id: str) -> str:
    node = graph.nodes[node_id]
    return node["label"] or graph.node_type(node_id).label + f" ({node_id})"


def _resolved_inputs(*, user, graph: Graph, inputs: dict) -> dict:
    """Each exposed node's run-time value: a photo as an image dict, a prompt as text."""
    inputs = inputs or {}
    errors = []
    exposed = graph.exposed()
    for key in sorted(set(inputs) - set(exposed)):
        errors.append({"node": key, "field": None, "message": "This workflow has no input by that name."})
    resolved = {}
    for node_id in exposed:
        node_type = graph.node_type(node_id)
        raw = inputs.get(node_id)
        try:
            resolved[node_id] = node_type.resolve_input(user=user, value=raw, params=graph.nodes[node_id]["params"])
        except ApplicationError as error:
            errors.append({"node": node_id, "field": None, "message": error.message})
    if errors:
        raise WorkflowInvalidError(errors, code="invalid_inputs",
                                   labels={n: _node_name(graph, n) for n in graph.nodes})
    return resolved


def _check_available(graph: Graph) -> None:
    errors = []
    for node_id, node in graph.nodes.items():
        if reason := graph.node_type(node_id).unavailable_reason(node["params"]):
            errors.append({"node": node_id, "field": None, "message": reason})
    if errors:
        raise WorkflowInvalidError(errors, code="node_unavailable",
                                   labels={n: _node_name(graph, n) for n in graph.nodes})


# ---------------------------------------------------------------- credits


def _hold_key(run: WorkflowRun) -> str:
    return f"workflow-run:{run.pk}:hold:{run.hold_seq}"


def _hold(run: WorkflowRun, amount: int) -> None:
    """Reserve `amount` more for the run (a new hold, with its own key)."""
    if amount <= 0:
        return
    run.hold_seq += 1
    workflow_ledger.workflow_credits_hold(
        user=run.owner, amount=amount, key=_hold_key(run), memo=f"Held for a run of {run.workflow.name}"[:200],
    )
    run.held_credits += amount


def _release_all(run: WorkflowRun) -> None:
    """Return whatever the run still holds (cached, failed, canceled and never-run nodes' shares)."""
    if run.held_credits:
        workflow_ledger.workflow_credits_return(
            user=run.owner, amount=run.held_credits, key=f"workflow-run:{run.pk}:release:{run.hold_seq}",
            hold_key=_hold_key(run), memo=f"Returned: not used by a run of {run.workflow.name}"[:200],
        )
    run.held_credits = 0
    NodeRun.objects.filter(run=run, held_credits__gt=0).update(held_credits=0)


def _charge_node(run: WorkflowRun, node: NodeRun) -> None:
    amount = node.held_credits
    if amount:
        workflow_ledger.workflow_credits_charge(
            user=run.owner, amount=amount, key=f"workflow-run:{run.pk}:node:{node.pk}:capture",
            memo=f"Charged {amount} credit{'s' if amount != 1 else ''} for step {node.node_id}"[:200],
        )
    node.charged_credits += amount
    run.charged_credits += amount
    run.held_credits -= amount
    node.held_credits = 0


def _hand_back(run: WorkflowRun, node: NodeRun) -> None:
    """A node whose work is charged elsewhere (a generation holds its own quote) returns its share."""
    amount = node.held_credits
    if amount:
        workflow_ledger.workflow_credits_return(
            user=run.owner, amount=amount, key=f"workflow-run:{run.pk}:node:{node.pk}:handoff:{node.attempt}",
            hold_key=_hold_key(run), memo=f"Passed to step {node.node_id}'s generation"[:200],
        )
    run.held_credits -= amount
    node.held_credits = 0


# ---------------------------------------------------------------- live updates


def _publish(run: WorkflowRun, *nodes: NodeRun, balance: bool = False, run_changed: bool = False) -> None:
    """After commit, one live event for this change: `run.nodes_updated` with the changed nodes
    (as of this change) and their cards' HTML, or `run.<status>` when the run itself changed
    state. The state is snapshotted now; HTML is rendered after commit, outside the run's lock.
    The run's header (counts, timeline, credits) rides along whenever a node ended or the run
    changed; a node merely starting updates only its own card."""
    run_snapshot = copy.copy(run)
    node_snapshots = [copy.copy(node) for node in nodes]
    header = run_changed or balance or any(n.status not in NODE_OPEN for n in nodes)
    transaction.on_commit(lambda: _deliver(run_snapshot, node_snapshots, balance=balance, run_changed=run_changed,
                                           header=header))


def _deliver(run: WorkflowRun, nodes: list[NodeRun], *, balance: bool, run_changed: bool, header: bool) -> None:
    """Only what changed: the nodes' cards and, when asked, the run's header, drawn from the run's
    tallies (no read of its other nodes). The timeline of every node rides along only when the
    run itself changed state (start, end, cancel, retry, resume); the page re-reads it on resync."""
    from .presenters import node_event_data, node_html, node_uploads, run_event_data, run_header_html, run_timeline_html

    uploads = node_uploads(nodes)
    html = "".join(node_html(node, run=run, uploads=uploads) for node in nodes)
    if header:
        html += run_header_html(run)
    if run_changed:
        html += run_timeline_html(run)
    if balance:
        value = credits_selectors.credits_balance_get(user=run.owner_id)
        html += render_to_string("_balance.html", {"credit_balance": value, "oob": True})
    data = run_event_data(run)
    if run_changed:
        event = "run.updated" if run.is_active else f"run.{run.status}"
    else:
        event = "run.nodes_updated"
    data["nodes"] = [node_event_data(node, run=run, uploads=uploads) for node in nodes]
    publish_to_user(user_id=run.owner_id, event=event, data=data, html=html)


def _bump(*objects) -> None:
    for obj in objects:
        obj.revision += 1


# ---------------------------------------------------------------- locking and scheduling


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


def _locked(run_id, node_pk=None) -> tuple[WorkflowRun | None, NodeRun | None]:
    """Lock the run row, then (optionally) one of its node rows: the one lock order everywhere."""
    run = _one(_runs_with_version().select_for_update(of=("self",)).filter(pk=run_id))
    if run is None or node_pk is None:
        return run, None
    return run, _one(NodeRun.objects.select_for_update().filter(pk=node_pk, run=run))


def _enqueue(node: NodeRun, *, countdown: float | None = None) -> None:
    """Send a queued node to the workers once the transaction commits."""
    node_type = node_type_get(node.type_key)
    queue = node_type.queue if node_type else "default"
    node_run_id = str(node.pk)
    transaction.on_commit(lambda: tasks.node_run_enqueue(node_run_id, queue=queue, countdown=countdown))


def _unblock_children(run: WorkflowRun, graph: Graph, node: NodeRun) -> list[NodeRun]:
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


def _settle_if_done(run: WorkflowRun) -> bool:
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
    _release_all(run)
    return True


RUN_FIELDS = [
    "status", "held_credits", "charged_credits", "hold_seq", "revision", "error_message", "finished_at",
    "nodes_active", "nodes_succeeded", "nodes_failed", "nodes_cached", "updated_at",
]
# What a node's success changes on a run that goes on.
RUN_TALLY_FIELDS = ["held_credits", "charged_credits", "revision", "nodes_active", "nodes_succeeded", "nodes_cached",
                    "updated_at"]


def _save_run(run: WorkflowRun, fields: list[str] = RUN_FIELDS) -> None:
    _bump(run)
    run.save(update_fields=fields)


NODE_FIELDS = [
    "status", "waiting_on", "attempt", "round_attempt", "model_index", "model", "progress", "held_credits",
    "charged_credits", "cached", "cached_from", "cache_key", "outputs", "meta", "generation", "error_code",
    "error_message", "revision", "queued_at", "started_at", "finished_at", "updated_at",
]


def _save_node(node: NodeRun, fields: list[str] = NODE_FIELDS) -> None:
    _bump(node)
    node.save(update_fields=fields)


# What a claim changes: the shorter statement is cheaper to build and sends no JSON.
CLAIM_FIELDS = ["status", "attempt", "round_attempt", "model", "progress", "revision", "started_at", "finished_at",
                "updated_at"]


# ---------------------------------------------------------------- runs: start


def run_start(*, user, workflow_id, inputs: dict | None = None, version_number: int | None = None,
              force_rerun: bool = False) -> WorkflowRun:
    """Validate the inputs, quote the whole graph, hold the quote and queue every node that is ready."""
    workflow = selectors.workflow_get_for_user(user=user, workflow_id=workflow_id)
    version = selectors.workflow_version_get(workflow=workflow, number=version_number)
    if version is None:
        raise NoVersionError() if version_number is None else NotFoundError("Version not found.")
    graph = version.loaded
    _check_available(graph)
    resolved = _resolved_inputs(user=user, graph=graph, inputs=inputs or {})
    prices = graph_prices(graph)
    quote = sum(prices.values())
    with transaction.atomic():
        roots = [node_id for node_id in graph.nodes if not graph.parents(node_id)]
        run = WorkflowRun.objects.create(
            owner=user, workflow=workflow, version=version, inputs=resolved, force_rerun=bool(force_rerun),
            quoted_credits=quote, nodes_total=len(graph.nodes), nodes_active=len(roots),
        )
        now = timezone.now()
        nodes = NodeRun.objects.bulk_create([
            NodeRun(
                run=run, owner=user, node_id=node_id, type_key=node["type"], price=prices[node_id],
                held_credits=prices[node_id], waiting_on=len(graph.parents(node_id)),
                status=NodeStatus.QUEUED if not graph.parents(node_id) else NodeStatus.PENDING,
                queued_at=now if not graph.parents(node_id) else None,
            )
            for node_id, node in graph.nodes.items()
        ])
        if quote:
            # Spend cap and global budget, under the account lock, as for a generation.
            credits_services.credits_limits_check(user=user, amount=quote)
            _hold(run, quote)
            run.save(update_fields=["held_credits", "hold_seq", "updated_at"])
        for node in nodes:
            if node.status == NodeStatus.QUEUED:
                _enqueue(node)
        _publish(run, balance=bool(quote), run_changed=True)
    return run


# ---------------------------------------------------------------- runs: executing one node


def _claim(node_run_id) -> tuple[WorkflowRun, NodeRun] | None:
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
        _save_node(node, CLAIM_FIELDS)
        _publish(run, node)
    return run, node


def _node_inputs(run: WorkflowRun, graph: Graph, node: NodeRun) -> dict:
    """Each input port's value from the parents' outputs (image lists joined in edge order)."""
    inbound = graph.inbound(node.node_id)
    if not inbound:
        return {}
    outputs = dict(
        NodeRun.objects.filter(run=run, node_id__in={edge["from"] for edge in inbound})
        .values_list("node_id", "outputs")
    )
    node_type = graph.node_type(node.node_id)
    values: dict = {}
    for edge in inbound:
        value = (outputs.get(edge["from"]) or {}).get(edge["from_port"])
        port = node_type.input(edge["to_port"])
        if port.multiple:
            values.setdefault(port.name, []).extend(value or [])
        else:
            values[port.name] = value
    return values


def _cache_hit(*, node: NodeRun, key: str) -> NodeRun | None:
    """The newest earlier successful run of the same node, by the same user, whose outputs still exist."""
    candidates = (
        NodeRun.objects.filter(owner_id=node.owner_id, cache_key=key, status=NodeStatus.SUCCEEDED)
        .exclude(pk=node.pk).order_by("-finished_at")[:3]
    )
    node_type = node_type_get(node.type_key)
    for candidate in candidates:
        if node_type.outputs_exist(candidate.outputs, owner_id=node.owner_id):
            return candidate
    return None


def node_run_execute(*, node_run_id) -> None:
    """The worker's part: claim, look in the cache, run the node type, record what happened."""
    claimed = _claim(node_run_id)
    if claimed is None:
        return
    run, node = claimed
    graph = run.version.loaded
    spec = graph.nodes[node.node_id]
    node_type = graph.node_type(node.node_id)
    attempt = node.attempt
    try:
        inputs = _node_inputs(run, graph, node)
        exposed = run.inputs.get(node.node_id) if node_type.exposed else None
        if node_type.is_cacheable(spec["params"]):
            key = cache_key(type_key=node_type.key, cache_version=node_type.cache_version, params=spec["params"],
                            fallback_models=spec["fallback_models"], inputs=inputs, exposed_value=exposed)
            node.cache_key = key  # saved with the attempt's outcome
            if not run.force_rerun and (hit := _cache_hit(node=node, key=key)) is not None:
                node_succeed(node_run_id=node.pk, attempt=attempt, outputs=hit.outputs, meta=hit.meta, cached_from=hit,
                             run_id=run.pk, cache_key=key)
                return
        if reason := node_type.unavailable_reason(spec["params"]):
            raise NodeFailed(reason, code="node_unavailable", retry=False, fallback=False)
        context = NodeContext(
            node_run_id=str(node.pk), run_id=str(run.pk), node_id=node.node_id, user=run.owner,
            params=spec["params"], inputs=inputs, attempt=attempt, model=node.model, exposed_value=exposed,
        )
        if node_type.hands_off:
            outcome = _run_handing_off(run, node, node_type, context)
            if outcome is None:
                return
        else:
            outcome = node_type.run(context)
    except NodeFailed as failure:
        node_attempt_failed(node_run_id=node.pk, attempt=attempt, failure=failure, run_id=run.pk,
                            cache_key=node.cache_key)
        return
    except Exception:
        logger.exception("workflow node crashed", extra={"node_run": str(node.pk), "type": node.type_key})
        node_attempt_failed(node_run_id=node.pk, attempt=attempt, failure=NodeFailed(
            INTERNAL_ERROR_MESSAGE, code="internal_error", retry=True, fallback=False,
        ), run_id=run.pk, cache_key=node.cache_key)
        return
    if isinstance(outcome, NodeResult):
        node_succeed(node_run_id=node.pk, attempt=attempt, outputs=outcome.outputs, meta=outcome.meta, run_id=run.pk,
                     cache_key=node.cache_key)


def _run_handing_off(run, node, node_type, context) -> NodePending | None:
    """A node whose work is charged elsewhere (generate): in one transaction, hand back its share of
    the run's hold and start the work (which holds its own price), and record what to follow."""
    cache_key = node.cache_key
    with transaction.atomic():
        run, node = _locked(run.pk, node.pk)
        if node is None or node.status != NodeStatus.RUNNING or node.attempt != context.attempt:
            return None  # canceled meanwhile
        node.cache_key = cache_key
        _hand_back(run, node)
        outcome = node_type.run(context)
        if not isinstance(outcome, NodePending):  # pragma: no cover - a node type's bug
            raise TypeError("a hands-off node type must return NodePending")
        node.generation_id = uuid.UUID(str(outcome.generation_id))
        _save_node(node)
        _save_run(run)
        _publish(run, node, balance=True)
        node_run_id = str(node.pk)
        transaction.on_commit(lambda: tasks.node_follow_enqueue(node_run_id))
    return outcome


def node_succeed(*, node_run_id, attempt: int | None, outputs: dict, meta: dict | None = None,
                 cached_from: NodeRun | None = None, charged: int | None = None, run_id=None,
                 cache_key: str | None = None) -> bool:
    """Record a node's outputs, charge its share (nothing if cached), queue children that are now
    ready, and end the run if this was the last node. Applied once: a late or repeated report for
    an attempt that is no longer running changes nothing. `run_id` and `cache_key`: what the
    caller already knows (the node's run; the cache key of this attempt, saved with it)."""
    run_id = run_id or NodeRun.objects.filter(pk=node_run_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return False
    with transaction.atomic():
        run, node = _locked(run_id, node_run_id)
        if node is None or node.status != NodeStatus.RUNNING or (attempt is not None and node.attempt != attempt):
            return False
        node.succeed()
        node.outputs = outputs
        node.meta = meta or {}
        node.progress = 1.0
        node.finished_at = timezone.now()
        node.error_code = node.error_message = ""
        if cache_key is not None:
            node.cache_key = cache_key
        run.nodes_active -= 1
        run.nodes_succeeded += 1
        if cached_from is not None:
            node.cached, node.cached_from = True, cached_from  # free: its share is returned when the run ends
            run.nodes_cached += 1
        elif charged is not None:
            node.charged_credits = charged  # charged by the work it handed off to (a generation)
            run.charged_credits += charged
        else:
            _charge_node(run, node)
        _save_node(node)
        graph = run.version.loaded
        queued = _unblock_children(run, graph, node)
        for child in queued:
            _enqueue(child)
        ended = _settle_if_done(run)
        _save_run(run, RUN_FIELDS if ended else RUN_TALLY_FIELDS)
        _publish(run, node, *queued, balance=ended, run_changed=ended)
    return True


def node_attempt_failed(*, node_run_id, attempt: int, failure: NodeFailed, run_id=None,
                        cache_key: str | None = None) -> None:
    """An attempt failed: try again (with backoff), move to the next fallback model, or fail the node."""
    run_id = run_id or NodeRun.objects.filter(pk=node_run_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return
    with transaction.atomic():
        run, node = _locked(run_id, node_run_id)
        if node is None or node.status != NodeStatus.RUNNING or node.attempt != attempt:
            return
        graph = run.version.loaded
        spec = graph.nodes[node.node_id]
        policy = spec["retry"]
        models = graph.node_type(node.node_id).models(spec["params"], spec["fallback_models"])
        node.error_code, node.error_message = failure.code[:50], failure.message[:300]
        if cache_key is not None:
            node.cache_key = cache_key
        node.generation_id = None
        node.progress = 0
        if failure.retry and node.round_attempt < policy["max_attempts"]:
            node.requeue()
            node.queued_at = timezone.now()
            countdown = policy["backoff_seconds"] * 2 ** (node.round_attempt - 1)
            _save_node(node)
            _enqueue(node, countdown=countdown or None)
            logger.info("workflow node retrying", extra={"node_run": str(node.pk), "code": failure.code})
        elif failure.fallback and node.model_index + 1 < len(models):
            node.model_index += 1
            node.round_attempt = 0
            node.requeue()
            node.queued_at = timezone.now()
            _save_node(node)
            _enqueue(node)
            logger.info("workflow node falling back", extra={"node_run": str(node.pk), "model": models[node.model_index]})
        else:
            node.fail()
            node.finished_at = timezone.now()
            run.nodes_active -= 1
            run.nodes_failed += 1
            _save_node(node)
        ended = _settle_if_done(run)
        _save_run(run)
        _publish(run, node, balance=ended, run_changed=ended)


def node_crashed(*, node_run_id) -> None:
    """The task itself blew up outside the node type (a bug): fail the attempt so the run can end."""
    attempt = NodeRun.objects.filter(pk=node_run_id, status=NodeStatus.RUNNING).values_list("attempt", flat=True).first()
    if attempt is not None:
        node_attempt_failed(node_run_id=node_run_id, attempt=attempt, failure=NodeFailed(
            INTERNAL_ERROR_MESSAGE, code="internal_error", retry=False, fallback=False,
        ))


# ---------------------------------------------------------------- following work handed off (generations)


def node_follow(*, node_run_id) -> bool:
    """Check on a node's handed-off work; returns True while it should be checked again."""
    node = NodeRun.objects.filter(pk=node_run_id).first()
    if node is None or node.status != NodeStatus.RUNNING or node.generation_id is None:
        return False
    node_type = node_type_get(node.type_key)
    status = node_type.follow(str(node.generation_id))
    attempt = node.attempt
    if status.failure is not None:
        node_attempt_failed(node_run_id=node.pk, attempt=attempt, failure=status.failure)
        return False
    if status.result is not None:
        node_succeed(node_run_id=node.pk, attempt=attempt, outputs=status.result.outputs, meta=status.result.meta,
                     charged=status.charged)
        return False
    if status.progress is not None:
        node_progress(node_run_id=node.pk, progress=status.progress)
    return True


def node_generation_ended(*, generation_id) -> int:
    """A generation ended (a `GenerationFinished` event, after its commit):
    check at once on the steps waiting on it instead of at their next poll. Idempotent: a step
    that already ended, or a repeated announcement, changes nothing. Returns the steps nudged."""
    waiting = [str(pk) for pk in NodeRun.objects.filter(generation_id=generation_id, status=NodeStatus.RUNNING)
               .values_list("pk", flat=True)]
    for node_run_id in waiting:
        tasks.node_follow_now(node_run_id)
    return len(waiting)


def node_follow_gave_up(*, node_run_id) -> None:
    node = NodeRun.objects.filter(pk=node_run_id, status=NodeStatus.RUNNING).first()
    if node is not None:
        node_attempt_failed(node_run_id=node.pk, attempt=node.attempt, failure=NodeFailed(
            "This step took too long and was stopped.", code="timeout", retry=False, fallback=True,
        ))


def node_progress(*, node_run_id, progress: float) -> None:
    """Progress while running. Cheap: one conditional update, no lock."""
    progress = min(max(progress, 0.0), 0.99)
    now = timezone.now()
    updated = NodeRun.objects.filter(pk=node_run_id, status=NodeStatus.RUNNING, progress__lt=progress).update(
        progress=progress, revision=F("revision") + 1, updated_at=now,
    )
    if updated:
        node = (
            NodeRun.objects.select_related("run", "run__workflow", "run__version").defer("run__version__graph")
            .get(pk=node_run_id)
        )
        _deliver(node.run, [node], balance=False, run_changed=False, header=False)


# ---------------------------------------------------------------- runs: cancel, retry, resume


def run_cancel(*, user, run_id) -> WorkflowRun:
    """Stop queued and waiting nodes, cancel running provider jobs, return the unused credits."""
    run_id = selectors.run_id_for_user(user=user, run_id=run_id)
    with transaction.atomic():
        run, _ = _locked(run_id)
        if run.status == RunStatus.CANCELED:
            return run
        if run.status != RunStatus.RUNNING:
            raise RunNotCancelableError()
        now = timezone.now()
        generations = []
        nodes = list(NodeRun.objects.select_for_update().filter(run=run, status__in=NODE_OPEN).order_by("node_id"))
        for node in nodes:
            if node.status == NodeStatus.RUNNING and node.generation_id:
                generations.append(node.generation_id)
            node.cancel()
            node.finished_at = now
            _save_node(node)
        run.nodes_active = 0  # every queued and running node was among them
        run.cancel()
        run.finished_at = now
        _release_all(run)
        _save_run(run)
        _publish(run, *nodes, balance=True, run_changed=True)
        transaction.on_commit(lambda: _cancel_generations(user, generations))
    return run


def _cancel_generations(user, generation_ids) -> None:
    from apps.generations.services import generation_cancel

    for generation_id in generation_ids:
        try:
            generation_cancel(user=user, generation_id=generation_id)
        except ApplicationError:
            pass  # it ended meanwhile


def _reopen(run: WorkflowRun, graph: Graph, nodes: list[NodeRun]) -> None:
    """Queue failed `nodes` again, holding credits for them and for what waits on them."""
    if run.status == RunStatus.FAILED:
        run.reopen()
        run.finished_at = None
        run.error_message = ""
    ids = set()
    for node in nodes:
        ids.add(node.node_id)
        ids.update(graph.descendants(node.node_id))
    pending = list(
        NodeRun.objects.select_for_update().filter(run=run, node_id__in=ids, status=NodeStatus.PENDING)
    )
    to_hold = [*nodes, *pending]
    amount = sum(max(0, n.price - n.held_credits) for n in to_hold)
    _hold(run, amount)
    now = timezone.now()
    for node in to_hold:
        node.held_credits = max(node.held_credits, node.price)
    run.nodes_failed -= len(nodes)
    run.nodes_active += len(nodes)
    for node in nodes:
        node.retry()
        node.round_attempt = 0
        node.model_index = 0
        node.progress = 0
        node.error_code = node.error_message = ""
        node.queued_at = now
        node.finished_at = None
        node.generation_id = None
        _enqueue(node)
    for node in to_hold:
        _save_node(node)
    _save_run(run)
    _publish(run, *to_hold, balance=bool(amount), run_changed=True)


def node_retry(*, user, run_id, node_id: str) -> NodeRun:
    """Run one failed node again; what depends on it follows when it succeeds."""
    run_id = selectors.run_id_for_user(user=user, run_id=run_id)
    with transaction.atomic():
        run, _ = _locked(run_id)
        node = NodeRun.objects.select_for_update().filter(run=run, node_id=node_id).first()
        if node is None:
            raise NotFoundError("Step not found.")
        if node.status != NodeStatus.FAILED or run.status not in (RunStatus.RUNNING, RunStatus.FAILED):
            raise NodeNotRetryableError()
        _reopen(run, run.version.loaded, [node])
    return node


def run_resume(*, user, run_id) -> WorkflowRun:
    """Run a failed run's failed nodes again; the nodes that succeeded are not run again."""
    run_id = selectors.run_id_for_user(user=user, run_id=run_id)
    with transaction.atomic():
        run, _ = _locked(run_id)
        if run.status != RunStatus.FAILED:
            raise RunNotResumableError()
        failed = list(NodeRun.objects.select_for_update().filter(run=run, status=NodeStatus.FAILED).order_by("node_id"))
        _reopen(run, run.version.loaded, failed)
    return run


# ---------------------------------------------------------------- housekeeping


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
