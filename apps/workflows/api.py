from datetime import datetime
from uuid import UUID

from ninja import Field, Query, Router, Schema, Status

from . import presenters, selectors, services
from .engine.graph import graph_load
from .engine.registry import node_types
from .exceptions import WorkflowInvalidError

router = Router(tags=["workflows"])


class GraphError(Schema):
    node: str | None = Field(description="The node the problem is on (null: the graph as a whole).")
    field: str | None = Field(description="The setting or port on that node, if any.")
    message: str


class InvalidOut(Schema):
    detail: str
    code: str = Field(description="invalid_workflow, invalid_inputs or node_unavailable (invalid_request for a malformed body).")
    errors: list[GraphError] = Field(default_factory=list, description="Empty for a malformed body.")


class WorkflowIn(Schema):
    name: str = Field("", max_length=100, description="Required unless copying a starter.")
    description: str = Field("", max_length=500)
    graph: dict | None = Field(None, description="Nodes and edges (see GET /workflow-node-types); becomes version 1.")
    starter: str | None = Field(None, description="Copy a starter workflow (GET /workflow-starters) instead.")


class VersionIn(Schema):
    graph: dict


class ExposedInput(Schema):
    node_id: str
    label: str
    kind: str = Field(description="photo (a photo id from /uploads) or text.")


class WorkflowOut(Schema):
    id: UUID
    name: str
    description: str
    starter: str | None
    latest_version: int | None
    quote: int | None = Field(description="Credits a run of the latest version holds (charged: what succeeds).")
    inputs: list[ExposedInput]
    created_at: datetime
    updated_at: datetime


class WorkflowDetailOut(WorkflowOut):
    graph: dict | None
    versions: list[int]


class WorkflowPage(Schema):
    items: list[WorkflowOut]
    next_cursor: str | None


class VersionOut(Schema):
    workflow_id: UUID
    number: int
    graph: dict
    quote: int
    created_at: datetime


class RunIn(Schema):
    inputs: dict = Field(default_factory=dict, description='{"<node id>": "<photo id or text>"} for each input node.')
    version: int | None = Field(None, description="The version to run; the latest if omitted.")
    force_rerun: bool = Field(False, description="Run every node again instead of reusing cached outputs.")


class ImageOut(Schema):
    url: str
    thumbnail_url: str
    width: int | None
    height: int | None
    sha256: str
    upload_id: str | None


class NodeError(Schema):
    code: str
    message: str


class NodeOut(Schema):
    node_id: str
    type: str
    status: str = Field(description="pending, queued, running, succeeded, failed or canceled.")
    progress: float
    cached: bool
    attempt: int
    model: str | None
    price: int
    charged_credits: int
    error: NodeError | None
    images: list[ImageOut]
    text: str | None
    meta: dict
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class RunOut(Schema):
    id: UUID
    workflow_id: UUID
    version: int
    status: str = Field(description="running, succeeded, failed or canceled.")
    quoted_credits: int
    held_credits: int
    charged_credits: int
    error_message: str | None
    force_rerun: bool
    nodes: list[NodeOut]
    created_at: datetime
    finished_at: datetime | None


class RunPage(Schema):
    items: list[RunOut]
    next_cursor: str | None


class PageQuery(Schema):
    cursor: str | None = None
    limit: int = Field(20, ge=1, le=100)


class RunQuery(PageQuery):
    workflow_id: UUID | None = None


def _invalid(exc: WorkflowInvalidError):
    return Status(exc.http_status, {"detail": exc.message, "code": exc.code, "errors": exc.errors})


def workflow_out(workflow, *, detail: bool = False) -> dict:
    version = selectors.workflow_version_get(workflow=workflow)
    graph = graph_load(version.graph) if version else None
    out = {
        "id": workflow.pk, "name": workflow.name, "description": workflow.description,
        "starter": workflow.starter_key or None, "latest_version": version.number if version else None,
        "quote": services.workflow_quote(graph=graph) if graph else None,
        "inputs": [
            {"node_id": node_id, "label": graph.nodes[node_id]["label"] or graph.node_type(node_id).label,
             "kind": graph.node_type(node_id).exposed}
            for node_id in (graph.exposed() if graph else [])
        ],
        "created_at": workflow.created_at, "updated_at": workflow.updated_at,
    }
    if detail:
        out["graph"] = version.graph if version else None
        out["versions"] = [v.number for v in selectors.workflow_versions(workflow=workflow, limit=100)]
    return out


def version_out(version) -> dict:
    return {
        "workflow_id": version.workflow_id, "number": version.number, "graph": version.graph,
        "quote": services.workflow_quote(graph=graph_load(version.graph)), "created_at": version.created_at,
    }


def run_out(run) -> dict:
    nodes = selectors.run_nodes(run=run)
    data = presenters.run_event_data(run)
    return {
        **data, "id": run.pk, "workflow_id": run.workflow_id, "error_message": run.error_message or None,
        "force_rerun": run.force_rerun, "created_at": run.created_at, "finished_at": run.finished_at,
        "nodes": [presenters.node_event_data(node, run=run) for node in nodes],
    }


@router.get("/workflow-node-types", response=list[dict], summary="Node types and their settings")
def node_type_list(request):
    """Every node type: its input and output ports (typed: image, text, video), its settings as a
    schema (kind, choices, bounds, default), whether it takes fallback models, and whether this
    server can run it now."""
    return [node_type.schema() for node_type in node_types()]


@router.get("/workflow-starters", response=list[dict], summary="Starter workflows to copy")
def starter_list(request):
    return [
        {"key": s.key, "name": s.name, "description": s.description, "graph": s.graph}
        for s in selectors.starter_list()
    ]


@router.get("/workflows", response=WorkflowPage, summary="List your workflows, newest first")
def workflow_list(request, query: Query[PageQuery]):
    page = selectors.workflow_list(user=request.auth, cursor=query.cursor, limit=query.limit)
    return {"items": [workflow_out(w) for w in page.items], "next_cursor": page.next_cursor}


@router.post("/workflows", response={201: WorkflowDetailOut, 422: InvalidOut}, summary="Create a workflow")
def workflow_create(request, payload: WorkflowIn):
    """With `graph`, it is validated and saved as version 1; problems come back as `errors`, each
    pointing at a node (422, nothing saved). With `starter`, a copy of that starter workflow."""
    try:
        if payload.starter:
            workflow = services.workflow_from_starter(user=request.auth, starter_key=payload.starter)
        else:
            workflow = services.workflow_create(user=request.auth, name=payload.name, description=payload.description,
                                                graph=payload.graph)
    except WorkflowInvalidError as exc:
        return _invalid(exc)
    return Status(201, workflow_out(workflow, detail=True))


@router.get("/workflows/{workflow_id}", response=WorkflowDetailOut, summary="Get a workflow and its latest graph")
def workflow_get(request, workflow_id: UUID):
    return workflow_out(selectors.workflow_get_for_user(user=request.auth, workflow_id=workflow_id), detail=True)


@router.post("/workflows/{workflow_id}/versions", response={201: VersionOut, 422: InvalidOut},
             summary="Save a new version")
def version_create(request, workflow_id: UUID, payload: VersionIn):
    """Versions are immutable: every save is the next number. Runs name the version they ran."""
    try:
        version = services.workflow_version_create(user=request.auth, workflow_id=workflow_id, graph=payload.graph)
    except WorkflowInvalidError as exc:
        return _invalid(exc)
    return Status(201, version_out(version))


@router.get("/workflows/{workflow_id}/versions/{number}", response=VersionOut, summary="Get one version")
def version_get(request, workflow_id: UUID, number: int):
    workflow = selectors.workflow_get_for_user(user=request.auth, workflow_id=workflow_id)
    version = selectors.workflow_version_get(workflow=workflow, number=number)
    if version is None:
        raise services.NotFoundError("Version not found.")
    return version_out(version)


@router.post("/workflows/{workflow_id}/runs", response={201: RunOut, 422: InvalidOut}, summary="Start a run")
def run_start(request, workflow_id: UUID, payload: RunIn):
    """Quotes the whole graph and holds the quote (402 if the balance is short), then queues every
    node whose inputs are ready: independent branches run in parallel. Each node that succeeds is
    charged its share; what is left is returned when the run ends. Follow it with GET or the
    event stream (`run.nodes_updated` with the nodes that changed, `run.updated`, `run.succeeded`,
    `run.failed`, `run.canceled`; each carries the run and its changed `nodes`)."""
    try:
        run = services.run_start(user=request.auth, workflow_id=workflow_id, inputs=payload.inputs,
                                 version_number=payload.version, force_rerun=payload.force_rerun)
    except WorkflowInvalidError as exc:
        return _invalid(exc)
    return Status(201, run_out(selectors.run_get_for_user(user=request.auth, run_id=run.pk)))


@router.get("/workflow-runs", response=RunPage, summary="List your runs, newest first")
def run_list(request, query: Query[RunQuery]):
    workflow = (
        selectors.workflow_get_for_user(user=request.auth, workflow_id=query.workflow_id) if query.workflow_id else None
    )
    page = selectors.run_list(user=request.auth, workflow=workflow, cursor=query.cursor, limit=query.limit)
    return {"items": [run_out(run) for run in page.items], "next_cursor": page.next_cursor}


@router.get("/workflow-runs/{run_id}", response=RunOut, summary="Get a run with its nodes' states")
def run_get(request, run_id: UUID):
    return run_out(selectors.run_get_for_user(user=request.auth, run_id=run_id))


@router.post("/workflow-runs/{run_id}/cancel", response=RunOut, summary="Cancel a run")
def run_cancel(request, run_id: UUID):
    """Queued and waiting nodes stop, running provider jobs are canceled, unused credits come back.
    Canceling twice is harmless; a run that has ended is 409."""
    services.run_cancel(user=request.auth, run_id=run_id)
    return run_out(selectors.run_get_for_user(user=request.auth, run_id=run_id))


@router.post("/workflow-runs/{run_id}/resume", response=RunOut, summary="Resume a failed run")
def run_resume(request, run_id: UUID):
    """Runs the failed nodes again (and what waits on them); nodes that succeeded are kept."""
    services.run_resume(user=request.auth, run_id=run_id)
    return run_out(selectors.run_get_for_user(user=request.auth, run_id=run_id))


@router.post("/workflow-runs/{run_id}/nodes/{node_id}/retry", response=RunOut, summary="Retry one failed node")
def node_retry(request, run_id: UUID, node_id: str):
    services.node_retry(user=request.auth, run_id=run_id, node_id=node_id)
    return run_out(selectors.run_get_for_user(user=request.auth, run_id=run_id))
