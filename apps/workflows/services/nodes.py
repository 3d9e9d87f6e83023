"""Executing one node (claim, cache, run, record) and following work a node handed off."""

import logging
import uuid

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import tasks
from ..engine.cache import cache_key
from ..engine.graph import Graph
from ..engine.registry import node_type_get
from ..engine.types import NodeContext, NodeFailed, NodePending, NodeResult
from ..models import NodeRun, NodeStatus, WorkflowRun
from .announce import run_announce
from .billing import node_charge, node_hand_back
from .scheduling import (
    RUN_FIELDS,
    RUN_TALLY_FIELDS,
    children_unblock,
    node_claim,
    node_enqueue,
    node_save,
    run_lock,
    run_save,
    run_settle_if_done,
)

logger = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "Something went wrong on our side while running this step."


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
    claimed = node_claim(node_run_id)
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
        run, node = run_lock(run.pk, node.pk)
        if node is None or node.status != NodeStatus.RUNNING or node.attempt != context.attempt:
            return None  # canceled meanwhile
        node.cache_key = cache_key
        node_hand_back(run, node)
        outcome = node_type.run(context)
        if not isinstance(outcome, NodePending):  # pragma: no cover - a node type's bug
            raise TypeError("a hands-off node type must return NodePending")
        node.generation_id = uuid.UUID(str(outcome.generation_id))
        node_save(node)
        run_save(run)
        run_announce(run, node, balance=True)
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
        run, node = run_lock(run_id, node_run_id)
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
            node_charge(run, node)
        node_save(node)
        graph = run.version.loaded
        queued = children_unblock(run, graph, node)
        for child in queued:
            node_enqueue(child)
        ended = run_settle_if_done(run)
        run_save(run, RUN_FIELDS if ended else RUN_TALLY_FIELDS)
        run_announce(run, node, *queued, balance=ended, run_changed=ended)
    return True


def node_attempt_failed(*, node_run_id, attempt: int, failure: NodeFailed, run_id=None,
                        cache_key: str | None = None) -> None:
    """An attempt failed: try again (with backoff), move to the next fallback model, or fail the node."""
    run_id = run_id or NodeRun.objects.filter(pk=node_run_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return
    with transaction.atomic():
        run, node = run_lock(run_id, node_run_id)
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
            node_save(node)
            node_enqueue(node, countdown=countdown or None)
            logger.info("workflow node retrying", extra={"node_run": str(node.pk), "code": failure.code})
        elif failure.fallback and node.model_index + 1 < len(models):
            node.model_index += 1
            node.round_attempt = 0
            node.requeue()
            node.queued_at = timezone.now()
            node_save(node)
            node_enqueue(node)
            logger.info("workflow node falling back", extra={"node_run": str(node.pk), "model": models[node.model_index]})
        else:
            node.fail()
            node.finished_at = timezone.now()
            run.nodes_active -= 1
            run.nodes_failed += 1
            node_save(node)
        ended = run_settle_if_done(run)
        run_save(run)
        run_announce(run, node, balance=ended, run_changed=ended)


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
        run_announce(node.run, node, header=False)


