"""Workflow graphs: parse, validate and normalise. Pure: no database, no I/O.

A graph is JSON:

    {"nodes": [{"id": "cut", "type": "remove_background", "params": {...},
                "retry": {"max_attempts": 2, "backoff_seconds": 5}, "fallback_models": [],
                "label": "Cut out", "position": {"x": 320, "y": 80}}, ...],
     "edges": [{"from": "photo", "from_port": "image", "to": "cut", "to_port": "image"}, ...]}

`graph_validate` returns the normalised graph (params cleaned, defaults filled in) or the list of
errors, each pointing at a node (and a field or port) so editors can show it there.
"""

import re
from collections import deque
from dataclasses import dataclass, field

from .registry import node_type_get
from .types import NodeType

NODE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
MAX_ATTEMPTS = 5
MAX_BACKOFF_SECONDS = 600
MAX_FALLBACK_MODELS = 3
MAX_LABEL = 60
DEFAULT_RETRY = {"max_attempts": 1, "backoff_seconds": 2}


@dataclass(frozen=True)
class GraphError:
    message: str
    node: str | None = None
    field: str | None = None

    def as_json(self) -> dict:
        return {"node": self.node, "field": self.field, "message": self.message}


class GraphInvalid(Exception):
    def __init__(self, errors: list[GraphError]):
        self.errors = errors
        super().__init__("; ".join(e.message for e in errors))


@dataclass
class Graph:
    """A validated graph. Node dicts are normalised; edges keep their order."""

    nodes: dict[str, dict]
    edges: list[dict]
    _parents: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _children: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self._parents = {node_id: [] for node_id in self.nodes}
        self._children = {node_id: [] for node_id in self.nodes}
        for edge in self.edges:
            if edge["from"] not in self._parents[edge["to"]]:
                self._parents[edge["to"]].append(edge["from"])
                self._children[edge["from"]].append(edge["to"])

    def node_type(self, node_id: str) -> NodeType:
        return node_type_get(self.nodes[node_id]["type"])

    def parents(self, node_id: str) -> list[str]:
        """Distinct parents, in edge order."""
        return self._parents[node_id]

    def children(self, node_id: str) -> list[str]:
        return self._children[node_id]

    def inbound(self, node_id: str) -> list[dict]:
        return [edge for edge in self.edges if edge["to"] == node_id]

    def roots(self) -> list[str]:
        return [node_id for node_id in self.nodes if not self._parents[node_id]]

    def descendants(self, node_id: str) -> list[str]:
        seen, queue = [], deque(self._children[node_id])
        while queue:
            current = queue.popleft()
            if current not in seen:
                seen.append(current)
                queue.extend(self._children[current])
        return seen

    def exposed(self) -> list[str]:
        return [node_id for node_id in self.nodes if self.node_type(node_id).exposed]

    def as_json(self) -> dict:
        return {"nodes": list(self.nodes.values()), "edges": list(self.edges)}


def _cycle_members(node_ids: list[str], edges: list[dict]) -> set[str]:
    """Nodes left over by Kahn's algorithm: those on a cycle or downstream of one."""
    indegree = {node_id: 0 for node_id in node_ids}
    children: dict[str, set[str]] = {node_id: set() for node_id in node_ids}
    for edge in edges:
        if edge["to"] not in children[edge["from"]]:
            children[edge["from"]].add(edge["to"])
            indegree[edge["to"]] += 1
    queue = deque(node_id for node_id, degree in indegree.items() if degree == 0)
    done = set()
    while queue:
        current = queue.popleft()
        done.add(current)
        for child in children[current]:
            indegree[child] -= 1
            if indegree[child] == 0:
                queue.append(child)
    left = set(node_ids) - done
    # Keep only nodes that can reach themselves: the cycle, not what merely hangs off it.
    on_cycle = set()
    for start in left:
        stack, seen = list(children[start] & left), set()
        while stack:
            current = stack.pop()
            if current == start:
                on_cycle.add(start)
                break
            if current not in seen:
                seen.add(current)
                stack.extend(children[current] & left)
    return on_cycle


def _retry_policy(raw, node_id: str, errors: list[GraphError]) -> dict:
    if raw in (None, {}):
        return dict(DEFAULT_RETRY)
    if not isinstance(raw, dict):
        errors.append(GraphError("The retry policy must be an object.", node_id, "retry"))
        return dict(DEFAULT_RETRY)
    policy = dict(DEFAULT_RETRY)
    for name, low, high, label in (
        ("max_attempts", 1, MAX_ATTEMPTS, "Attempts"), ("backoff_seconds", 0, MAX_BACKOFF_SECONDS, "Backoff"),
    ):
        if name not in raw:
            continue
        value = raw[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            errors.append(GraphError(f"{label} must be a whole number from {low} to {high}.", node_id, f"retry.{name}"))
        else:
            policy[name] = int(value)
    for name in sorted(set(raw) - set(DEFAULT_RETRY)):
        errors.append(GraphError(f"Unknown retry setting “{name}”.", node_id, "retry"))
    return policy


def _fallback_models(raw, node_type: NodeType, node_id: str, errors: list[GraphError]) -> list[str]:
    if raw in (None, []):
        return []
    if not node_type.uses_model:
        errors.append(GraphError(f"{node_type.label} does not use a model, so it has no fallbacks.", node_id,
                                 "fallback_models"))
        return []
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        errors.append(GraphError("Fallback models must be a list of model names.", node_id, "fallback_models"))
        return []
    if len(raw) > MAX_FALLBACK_MODELS:
        errors.append(GraphError(f"At most {MAX_FALLBACK_MODELS} fallback models.", node_id, "fallback_models"))
    model_field = node_type.field("model")
    allowed = {str(value) for value, _ in model_field.options()} if model_field else set()
    for slug in raw:
        if slug not in allowed:
            errors.append(GraphError(f"Fallback model “{slug}” is not a model this node can use.", node_id,
                                     "fallback_models"))
    return list(dict.fromkeys(raw))[:MAX_FALLBACK_MODELS]


def _position(raw) -> dict:
    if isinstance(raw, dict):
        try:
            return {"x": round(float(raw.get("x", 0)), 1), "y": round(float(raw.get("y", 0)), 1)}
        except (TypeError, ValueError):
            pass
    return {"x": 0, "y": 0}


def graph_validate(data, *, max_nodes: int = 100) -> Graph:
    """The normalised graph, or GraphInvalid with every error found (each pointing at its node)."""
    errors: list[GraphError] = []
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list) or not isinstance(
        data.get("edges", []), list
    ):
        raise GraphInvalid([GraphError("A workflow is an object with a list of nodes and a list of edges.")])
    raw_nodes, raw_edges = data["nodes"], data.get("edges", [])
    if not raw_nodes:
        raise GraphInvalid([GraphError("Add at least one node.")])
    if len(raw_nodes) > max_nodes:
        raise GraphInvalid([GraphError(f"A workflow has at most {max_nodes} nodes; this one has {len(raw_nodes)}.")])

    nodes: dict[str, dict] = {}
    types: dict[str, NodeType] = {}
    for index, raw in enumerate(raw_nodes):
        if not isinstance(raw, dict):
            errors.append(GraphError(f"Node {index + 1} is not an object."))
            continue
        node_id = raw.get("id")
        if not isinstance(node_id, str) or not NODE_ID.match(node_id):
            errors.append(GraphError(
                f"Node {index + 1}: an id is a letter then up to 39 letters, digits, “-” or “_”.",
                node_id if isinstance(node_id, str) else None, "id",
            ))
            continue
        if node_id in nodes:
            errors.append(GraphError(f"Two nodes are called “{node_id}”.", node_id, "id"))
            continue
        node_type = node_type_get(raw.get("type") or "")
        if node_type is None:
            errors.append(GraphError(f"Unknown node type “{raw.get('type')}”.", node_id, "type"))
            continue
        params, param_errors = node_type.clean_params(raw.get("params"))
        errors.extend(GraphError(message, node_id, name or None) for name, message in param_errors.items())
        label = raw.get("label") or ""
        if not isinstance(label, str) or len(label) > MAX_LABEL:
            errors.append(GraphError(f"A node's name is text of at most {MAX_LABEL} characters.", node_id, "label"))
            label = ""
        nodes[node_id] = {
            "id": node_id, "type": node_type.key, "label": label.strip(), "params": params,
            "retry": _retry_policy(raw.get("retry"), node_id, errors),
            "fallback_models": _fallback_models(raw.get("fallback_models"), node_type, node_id, errors),
            "position": _position(raw.get("position")),
        }
        types[node_id] = node_type

    edges: list[dict] = []
    seen_edges = set()
    filled: dict[tuple[str, str], int] = {}
    for index, raw in enumerate(raw_edges):
        if not isinstance(raw, dict):
            errors.append(GraphError(f"Edge {index + 1} is not an object."))
            continue
        source, target = raw.get("from"), raw.get("to")
        source_port, target_port = raw.get("from_port"), raw.get("to_port")
        if source not in types or target not in types:
            missing = target if source in types else source
            errors.append(GraphError(f"Edge {index + 1} names a node that is not in the workflow (“{missing}”).",
                                     target if target in types else None))
            continue
        if source == target:
            errors.append(GraphError("A node can't feed itself.", target, target_port))
            continue
        out_port = types[source].output(source_port or "")
        in_port = types[target].input(target_port or "")
        if out_port is None:
            errors.append(GraphError(f"{types[source].label} has no output “{source_port}”.", source, source_port))
            continue
        if in_port is None:
            errors.append(GraphError(f"{types[target].label} has no input “{target_port}”.", target, target_port))
            continue
        if out_port.type != in_port.type:
            errors.append(GraphError(
                f"“{in_port.label}” takes {in_port.type}, but “{out_port.label}” of “{source}” gives {out_port.type}.",
                target, target_port,
            ))
            continue
        key = (source, source_port, target, target_port)
        if key in seen_edges:
            continue  # the same connection twice: keep one
        seen_edges.add(key)
        filled[(target, target_port)] = filled.get((target, target_port), 0) + 1
        if filled[(target, target_port)] > 1 and not in_port.multiple:
            errors.append(GraphError(f"“{in_port.label}” takes one connection.", target, target_port))
            continue
        edges.append({"from": source, "from_port": source_port, "to": target, "to_port": target_port})

    for node_id in sorted(_cycle_members(list(types), edges)):
        errors.append(GraphError("This node is part of a cycle: a workflow must flow one way.", node_id))

    for node_id, node_type in types.items():
        connected = {port for (target, port) in filled if target == node_id}
        for port in node_type.inputs:
            if port.required and port.name not in connected:
                errors.append(GraphError(f"Connect something to “{port.label}”.", node_id, port.name))
        for name, message in node_type.check(nodes[node_id]["params"], connected).items():
            errors.append(GraphError(message, node_id, name))

    if errors:
        raise GraphInvalid(errors)
    return Graph(nodes=nodes, edges=edges)


def graph_load(data: dict) -> Graph:
    """A graph already validated on save (a stored version): rebuilt without re-cleaning params."""
    return Graph(nodes={node["id"]: node for node in data["nodes"]}, edges=list(data["edges"]))
