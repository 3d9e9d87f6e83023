"""A graph's price (each node type quotes its own step) and the checks a run's inputs must pass."""

from apps.core.exceptions import ApplicationError

from ..engine.graph import Graph
from ..exceptions import WorkflowInvalidError


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


def run_inputs_resolve(*, user, graph: Graph, inputs: dict) -> dict:
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


def graph_check_available(graph: Graph) -> None:
    errors = []
    for node_id, node in graph.nodes.items():
        if reason := graph.node_type(node_id).unavailable_reason(node["params"]):
            errors.append({"node": node_id, "field": None, "message": reason})
    if errors:
        raise WorkflowInvalidError(errors, code="node_unavailable",
                                   labels={n: _node_name(graph, n) for n in graph.nodes})


