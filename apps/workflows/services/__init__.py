"""Every write to workflows and runs: save versions, start, execute nodes, finish, retry, cancel.

The names below are the workflows app's service API; the modules hold them by concern (see the
app's README). Run changes are announced as `RunNodesChanged` / `RunFinished` domain events.
"""

from .definitions import (
    workflow_create,
    workflow_delete,
    workflow_from_starter,
    workflow_update,
    workflow_version_create,
)
from .nodes import (
    node_attempt_failed,
    node_crashed,
    node_follow,
    node_follow_gave_up,
    node_generation_ended,
    node_progress,
    node_run_execute,
    node_succeed,
)
from .quoting import graph_prices, workflow_quote
from .reaping import workflows_reap_stuck
from .runs import node_retry, run_cancel, run_resume, run_start

__all__ = [
    "graph_prices",
    "node_attempt_failed",
    "node_crashed",
    "node_follow",
    "node_follow_gave_up",
    "node_generation_ended",
    "node_progress",
    "node_retry",
    "node_run_execute",
    "node_succeed",
    "run_cancel",
    "run_resume",
    "run_start",
    "workflow_create",
    "workflow_delete",
    "workflow_from_starter",
    "workflow_quote",
    "workflow_update",
    "workflow_version_create",
    "workflows_reap_stuck",
]
