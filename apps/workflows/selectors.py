"""Owner-scoped reads: another user's workflow or run does not exist, as far as this user can tell."""

import uuid

from django.db.models import QuerySet

from apps.core.exceptions import NotFoundError
from apps.core.pagination import Page, keyset_page

from .models import NodeRun, StarterWorkflow, Workflow, WorkflowRun, WorkflowVersion


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def workflow_get_for_user(*, user, workflow_id, lock: bool = False) -> Workflow:
    queryset = Workflow.objects.filter(owner=user, pk=_uuid(workflow_id)) if _uuid(workflow_id) else Workflow.objects.none()
    if lock:
        queryset = queryset.select_for_update()
    workflow = queryset.first()
    if workflow is None:
        raise NotFoundError("Workflow not found.")
    return workflow


def workflow_list(*, user, cursor: str | None = None, limit: int = 24) -> Page[Workflow]:
    return keyset_page(Workflow.objects.filter(owner=user), cursor=cursor, limit=limit)


def workflow_version_get(*, workflow: Workflow, number: int | None = None) -> WorkflowVersion | None:
    versions = WorkflowVersion.objects.filter(workflow=workflow)
    if number is None:
        return versions.order_by("-number").first()
    return versions.filter(number=number).first()


def workflow_versions(*, workflow: Workflow, limit: int = 20) -> list[WorkflowVersion]:
    return list(WorkflowVersion.objects.filter(workflow=workflow).order_by("-number")[:limit])


def _runs(user) -> QuerySet[WorkflowRun]:
    return WorkflowRun.objects.filter(owner=user).select_related("workflow", "version")


def run_get_for_user(*, user, run_id) -> WorkflowRun:
    pk = _uuid(run_id)
    run = _runs(user).filter(pk=pk).first() if pk else None
    if run is None:
        raise NotFoundError("Run not found.")
    return run


def run_id_for_user(*, user, run_id) -> uuid.UUID:
    pk = _uuid(run_id)
    if pk is None or not WorkflowRun.objects.filter(owner=user, pk=pk).exists():
        raise NotFoundError("Run not found.")
    return pk


def run_nodes(*, run: WorkflowRun) -> list[NodeRun]:
    return list(NodeRun.objects.filter(run=run).order_by("created_at", "node_id"))


def node_run_get(*, user, run_id, node_id: str) -> NodeRun:
    run = run_get_for_user(user=user, run_id=run_id)
    node = NodeRun.objects.filter(run=run, node_id=node_id).select_related("run").first()
    if node is None:
        raise NotFoundError("Step not found.")
    return node


def run_list(*, user, workflow: Workflow | None = None, cursor: str | None = None, limit: int = 20) -> Page[WorkflowRun]:
    queryset = _runs(user)
    if workflow is not None:
        queryset = queryset.filter(workflow=workflow)
    return keyset_page(queryset, cursor=cursor, limit=limit)


def starter_list() -> list[StarterWorkflow]:
    return list(StarterWorkflow.objects.all())


def starter_get(*, key) -> StarterWorkflow | None:
    """A shipped starter by its key (shared by everyone), or None."""
    if not isinstance(key, str) or not key:
        return None
    return StarterWorkflow.objects.filter(key=key).first()
