"""Node types by key. Apps register theirs from `AppConfig.ready()` (see the app's README.md)."""

from apps.core.registry import NotRegistered, Registry

from .types import NodeType

node_registry: Registry[NodeType] = Registry("workflow node type")


def register_node_type(node_type: NodeType) -> NodeType:
    node_registry.register(node_type.key)(node_type)
    return node_type


def node_type_get(key: str) -> NodeType | None:
    try:
        return node_registry.get(key)
    except NotRegistered:
        return None


def node_types() -> list[NodeType]:
    return [node_registry.get(key) for key in node_registry]
