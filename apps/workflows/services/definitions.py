"""Workflows and their versions: create, save a new (immutable, validated) version, rename, delete."""

from django.conf import settings
from django.db import transaction

from apps.core.exceptions import ApplicationError, NotFoundError

from .. import selectors
from ..engine.graph import Graph, GraphInvalid, graph_validate
from ..exceptions import WorkflowInvalidError, WorkflowNameError
from ..models import RunStatus, StarterWorkflow, Workflow, WorkflowVersion


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


