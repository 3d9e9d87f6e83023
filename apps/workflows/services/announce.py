"""Telling the other apps what changed in a run: typed domain events, emitted in the transaction."""

import copy

from apps.core import events

from ..models import NODE_OPEN, NodeRun, WorkflowRun


def run_announce(run: WorkflowRun, *nodes: NodeRun, balance: bool = False, run_changed: bool = False,
                 header: bool | None = None) -> None:
    """One event for this change: `RunFinished` when it ended the run, else `RunNodesChanged` with
    the changed nodes. The rows are copied now, so subscribers after commit see this change, not a
    later one. The run's header (counts, timeline, credits) changes whenever a node ended or the run
    changed; a node merely starting changes only its own card."""
    run_snapshot = copy.copy(run)
    node_snapshots = tuple(copy.copy(node) for node in nodes)
    node_ids = tuple(str(node.pk) for node in nodes)
    if run_changed and not run.is_active:
        events.emit(events.RunFinished(
            user_id=run.owner_id, run_id=str(run.pk), status=run.status, node_ids=node_ids, balance=balance,
            run=run_snapshot, nodes=node_snapshots,
        ))
        return
    if header is None:
        header = run_changed or balance or any(n.status not in NODE_OPEN for n in nodes)
    events.emit(events.RunNodesChanged(
        user_id=run.owner_id, run_id=str(run.pk), node_ids=node_ids, run_changed=run_changed, header=header,
        balance=balance, run=run_snapshot, nodes=node_snapshots,
    ))
