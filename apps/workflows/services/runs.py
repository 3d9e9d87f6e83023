"""Runs: start (quote, hold, queue the roots), cancel, retry a failed node, resume a failed run."""

from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError, NotFoundError
from apps.credits import services as credits_services

from .. import selectors
from ..engine.graph import Graph
from ..exceptions import NodeNotRetryableError, NoVersionError, RunNotCancelableError, RunNotResumableError
from ..models import NODE_OPEN, NodeRun, NodeStatus, RunStatus, WorkflowRun
from .announce import run_announce
from .billing import run_hold, run_release_all
from .quoting import graph_check_available, graph_prices, run_inputs_resolve
from .scheduling import node_enqueue, node_save, run_lock, run_save


def run_start(*, user, workflow_id, inputs: dict | None = None, version_number: int | None = None,
              force_rerun: bool = False) -> WorkflowRun:
    """Validate the inputs, quote the whole graph, hold the quote and queue every node that is ready."""
    workflow = selectors.workflow_get_for_user(user=user, workflow_id=workflow_id)
    version = selectors.workflow_version_get(workflow=workflow, number=version_number)
    if version is None:
        raise NoVersionError() if version_number is None else NotFoundError("Version not found.")
    graph = version.loaded
    graph_check_available(graph)
    resolved = run_inputs_resolve(user=user, graph=graph, inputs=inputs or {})
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
            run_hold(run, quote)
            run.save(update_fields=["held_credits", "hold_seq", "updated_at"])
        for node in nodes:
            if node.status == NodeStatus.QUEUED:
                node_enqueue(node)
        run_announce(run, balance=bool(quote), run_changed=True)
    return run


def run_cancel(*, user, run_id) -> WorkflowRun:
    """Stop queued and waiting nodes, cancel running provider jobs, return the unused credits."""
    run_id = selectors.run_id_for_user(user=user, run_id=run_id)
    with transaction.atomic():
        run, _ = run_lock(run_id)
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
            node_save(node)
        run.nodes_active = 0  # every queued and running node was among them
        run.cancel()
        run.finished_at = now
        run_release_all(run)
        run_save(run)
        run_announce(run, *nodes, balance=True, run_changed=True)
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
    run_hold(run, amount)
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
        node_enqueue(node)
    for node in to_hold:
        node_save(node)
    run_save(run)
    run_announce(run, *to_hold, balance=bool(amount), run_changed=True)


def node_retry(*, user, run_id, node_id: str) -> NodeRun:
    """Run one failed node again; what depends on it follows when it succeeds."""
    run_id = selectors.run_id_for_user(user=user, run_id=run_id)
    with transaction.atomic():
        run, _ = run_lock(run_id)
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
        run, _ = run_lock(run_id)
        if run.status != RunStatus.FAILED:
            raise RunNotResumableError()
        failed = list(NodeRun.objects.select_for_update().filter(run=run, status=NodeStatus.FAILED).order_by("node_id"))
        _reopen(run, run.version.loaded, failed)
    return run


