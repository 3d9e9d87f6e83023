"""HTML views: read the request, call a selector or a service, render. No rules here."""

import json
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.exceptions import ApplicationError
from apps.core.htmx import is_htmx
from apps.media import selectors as media_selectors

from . import presenters, selectors, services
from .engine.graph import graph_load
from .engine.registry import node_type_get, node_types
from .exceptions import WorkflowInvalidError


def _graph_for(version):
    return graph_load(version.graph) if version is not None else None


def _unavailable(graph) -> list[dict]:
    if graph is None:
        return []
    return [
        {"node_id": node_id, "label": node["label"] or graph.node_type(node_id).label, "reason": reason}
        for node_id, node in graph.nodes.items()
        if (reason := graph.node_type(node_id).unavailable_reason(node["params"]))
    ]


@login_required
@require_GET
def workflow_list_view(request):
    page = selectors.workflow_list(user=request.user, cursor=request.GET.get("before") or None)
    starters = []
    for starter in selectors.starter_list():
        types = [node_type_get(node.get("type", "")) for node in starter.graph["nodes"]]
        reasons = [t.unavailable_reason({}) for t in types if t is not None and t.unavailable_reason({})]
        starters.append({"starter": starter, "unavailable": reasons[0] if reasons else ""})
    return render(request, "workflows/list.html", {
        "page": page, "starters": starters, "runs": selectors.run_list(user=request.user, limit=8).items,
    })


@login_required
@require_http_methods(["GET", "POST"])
def workflow_new_view(request):
    """GET: the builder on a draft that is not stored anywhere yet. POST (the builder's first save,
    JSON): the workflow and its first version, together. A plain form post just opens the builder."""
    if request.method == "GET":
        name = (request.GET.get("name") or "").strip()[:100] or "Untitled workflow"
        return _builder_render(request, workflow=None, name=name, graph={"nodes": [], "edges": []})
    if request.content_type != "application/json":
        return redirect(f"{reverse('workflows:new')}?{urlencode({'name': request.POST.get('name', '')})}")
    body, refusal = _json_body(request)
    if refusal is not None:
        return refusal
    starter = selectors.starter_get(key=body.get("starter")) if isinstance(body.get("starter"), str) else None
    try:
        workflow = services.workflow_create(
            user=request.user, name=body.get("name") or "Untitled workflow", graph=body.get("graph") or {},
            description=starter.description if starter else "", starter_key=starter.key if starter else "",
        )
    except WorkflowInvalidError as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code, "errors": exc.errors}, status=exc.http_status)
    except ApplicationError as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.http_status)
    return _saved(workflow, selectors.workflow_version_get(workflow=workflow))


@login_required
@require_http_methods(["GET", "POST"])
def starter_use_view(request, key):
    """The starter in the builder, as a draft of the user's own: nothing is stored until it is saved."""
    if request.method == "POST":
        return redirect("workflows:starter_use", key=key)
    starter = selectors.starter_get(key=key)
    if starter is None:
        raise Http404("Starter workflow not found.")
    return _builder_render(request, workflow=None, name=starter.name, graph=presenters.graph_with_layout(starter.graph),
                           starter=starter)


def _detail_context(request, workflow, *, error=None, errors=None, data=None) -> dict:
    version = selectors.workflow_version_get(workflow=workflow)
    graph = _graph_for(version)
    inputs = []
    if graph is not None:
        for node_id in graph.exposed():
            node_type = graph.node_type(node_id)
            node = graph.nodes[node_id]
            entry = {"node_id": node_id, "label": node["label"] or node_type.label, "kind": node_type.exposed,
                     "value": (data or {}).get(f"input-{node_id}", "")}
            if node_type.exposed == "photo":
                kind = node["params"].get("kind", "photo")
                entry["upload_kind"] = kind
                # What people uploaded first; results of edits and earlier runs after them.
                uploads = media_selectors.upload_list(user=request.user, kind=kind, limit=200).items
                entry["choices"] = [u for u in uploads if not u.operation][:60]
                entry["results"] = [u for u in uploads if u.operation][:40]
            else:
                entry["default"] = node["params"].get("default", "")
            inputs.append(entry)
    return {
        "workflow": workflow, "version": version, "inputs": inputs,
        "quote": services.workflow_quote(graph=graph) if graph is not None else None,
        "node_count": len(graph.nodes) if graph is not None else 0,
        "unavailable": _unavailable(graph),
        "versions": selectors.workflow_versions(workflow=workflow),
        "runs": selectors.run_list(user=request.user, workflow=workflow, limit=10).items,
        "error": error, "errors": errors or [], "force_rerun": (data or {}).get("force_rerun") == "on",
    }


@login_required
@require_GET
def workflow_detail_view(request, workflow_id):
    workflow = selectors.workflow_get_for_user(user=request.user, workflow_id=workflow_id)
    return render(request, "workflows/detail.html", _detail_context(request, workflow))


@login_required
@require_POST
def run_start_view(request, workflow_id):
    workflow = selectors.workflow_get_for_user(user=request.user, workflow_id=workflow_id)
    version = selectors.workflow_version_get(workflow=workflow)
    graph = _graph_for(version)
    inputs = {node_id: request.POST.get(f"input-{node_id}", "") for node_id in (graph.exposed() if graph else [])}
    try:
        run = services.run_start(user=request.user, workflow_id=workflow.pk, inputs=inputs,
                                 force_rerun=request.POST.get("force_rerun") == "on")
    except ApplicationError as exc:
        context = _detail_context(request, workflow, error=exc, errors=getattr(exc, "errors", None),
                                  data=request.POST)
        return render(request, "workflows/detail.html", context, status=exc.http_status)
    return redirect("workflows:run", run_id=run.pk)


@login_required
@require_POST
def workflow_delete_view(request, workflow_id):
    services.workflow_delete(user=request.user, workflow_id=workflow_id)
    return redirect("workflows:list")


# ---------------------------------------------------------------- runs


@login_required
@require_GET
def run_view(request, run_id):
    run = selectors.run_get_for_user(user=request.user, run_id=run_id)
    context = presenters.run_page_context(run, selectors.run_nodes(run=run), csrf_token=get_token(request))
    return render(request, "workflows/run.html", context)


@login_required
@require_GET
def run_header_view(request, run_id):
    run = selectors.run_get_for_user(user=request.user, run_id=run_id)
    return HttpResponse(presenters.run_html(run, oob=False, timeline_oob=True))


@login_required
@require_GET
def node_fragment_view(request, run_id, node_id):
    node = selectors.node_run_get(user=request.user, run_id=run_id, node_id=node_id)
    return HttpResponse(presenters.node_html(node, run=node.run, oob=False))


def _after_action(request, run_id):
    """htmx: the run's current state as out-of-band fragments (live events bring the rest)."""
    if not is_htmx(request):
        return redirect("workflows:run", run_id=run_id)
    run = selectors.run_get_for_user(user=request.user, run_id=run_id)
    html = presenters.run_html(run) + "".join(presenters.node_html(n, run=run) for n in selectors.run_nodes(run=run))
    return HttpResponse(html)


def _act(request, run_id, action):
    try:
        action()
    except ApplicationError as exc:
        if exc.http_status == 404 or not is_htmx(request):
            raise
    return _after_action(request, run_id)


@login_required
@require_POST
def run_cancel_view(request, run_id):
    return _act(request, run_id, lambda: services.run_cancel(user=request.user, run_id=run_id))


@login_required
@require_POST
def run_resume_view(request, run_id):
    return _act(request, run_id, lambda: services.run_resume(user=request.user, run_id=run_id))


@login_required
@require_POST
def node_retry_view(request, run_id, node_id):
    return _act(request, run_id, lambda: services.node_retry(user=request.user, run_id=run_id, node_id=node_id))


# ---------------------------------------------------------------- builder


CATEGORY_ORDER = ["Inputs", "Generate", "Local edits", "Flow"]


def node_type_catalogue() -> list[dict]:
    """Every node type's schema, grouped by category for the palette."""
    def order(node_type):
        category = node_type.category
        return CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER)

    return [node_type.schema() for node_type in sorted(node_types(), key=order)]


def _builder_render(request, *, workflow, name: str, graph: dict, version=None, starter=None):
    return render(request, "workflows/builder.html", {
        "workflow": workflow, "name": name, "version": version, "graph": graph, "starter": starter,
        "node_types": node_type_catalogue(),
        "save_url": reverse("workflows:version_save", args=[workflow.pk]) if workflow else reverse("workflows:new"),
    })


@login_required
@require_GET
def builder_view(request, workflow_id):
    workflow = selectors.workflow_get_for_user(user=request.user, workflow_id=workflow_id)
    version = selectors.workflow_version_get(workflow=workflow)
    graph = presenters.graph_with_layout(version.graph) if version is not None else {"nodes": [], "edges": []}
    return _builder_render(request, workflow=workflow, name=workflow.name, graph=graph, version=version)


def _json_body(request) -> tuple[dict, JsonResponse | None]:
    if request.content_type != "application/json":
        # A form post has had its body read already (CSRF middleware parses forms): refuse it plainly.
        return {}, JsonResponse({"detail": "Send the workflow as JSON.", "code": "unsupported_media_type"}, status=415)
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return {}, JsonResponse({"detail": "The request body is not JSON.", "code": "invalid_request"}, status=400)
    if not isinstance(body, dict):
        return {}, JsonResponse({"detail": "The request body must be an object.", "code": "invalid_request"}, status=400)
    return body, None


def _saved(workflow, version) -> JsonResponse:
    graph = graph_load(version.graph)
    return JsonResponse({
        "version": version.number, "quote": services.workflow_quote(graph=graph),
        "detail_url": reverse("workflows:detail", args=[workflow.pk]),
        "builder_url": reverse("workflows:builder", args=[workflow.pk]),
        "save_url": reverse("workflows:version_save", args=[workflow.pk]),
        "unavailable": _unavailable(graph),
    }, status=201)


@login_required
@require_POST
def version_save_view(request, workflow_id):
    """The builder's save: JSON {graph, name?} → a new version, or errors pointing at nodes."""
    workflow = selectors.workflow_get_for_user(user=request.user, workflow_id=workflow_id)  # another's: 404 first
    body, refusal = _json_body(request)
    if refusal is not None:
        return refusal
    try:
        if body.get("name"):
            services.workflow_update(user=request.user, workflow_id=workflow_id, name=body["name"],
                                     description=body.get("description", workflow.description))
        version = services.workflow_version_create(user=request.user, workflow_id=workflow_id, graph=body.get("graph"))
    except WorkflowInvalidError as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code, "errors": exc.errors}, status=exc.http_status)
    except ApplicationError as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.http_status)
    return _saved(workflow, version)


@login_required
@require_GET
def workflow_export_view(request, workflow_id):
    workflow = selectors.workflow_get_for_user(user=request.user, workflow_id=workflow_id)
    number = request.GET.get("version")
    version = selectors.workflow_version_get(workflow=workflow, number=int(number) if str(number).isdigit() else None)
    graph = presenters.graph_with_layout(version.graph) if version is not None else {"nodes": [], "edges": []}
    body = {"darkroom_workflow": 1, "name": workflow.name, "description": workflow.description,
            "version": version.number if version else None, "graph": graph}
    response = JsonResponse(body, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="workflow-{workflow.pk}.json"'
    return response
