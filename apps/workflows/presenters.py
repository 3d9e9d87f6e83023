"""How runs and nodes look to pages, live events and the API: JSON data and HTML fragments."""

from collections import defaultdict
from urllib.parse import quote

from django.template.loader import render_to_string

from apps.core.files import signed_file_url
from apps.media.models import Upload

from .engine.graph import Graph, graph_load
from .engine.registry import node_type_get
from .models import NodeRun, NodeStatus, RunStatus, WorkflowRun

NODE_WIDTH, NODE_HEIGHT = 220, 168
GAP_X, GAP_Y = 60, 36
PAD = 24


# ---------------------------------------------------------------- layout


def graph_layout(graph_json: dict, *, use_positions: bool = False) -> dict[str, tuple[float, float]]:
    """Where each node sits. The run page lays the graph out in columns by depth from the inputs
    (top to bottom in file order), so parallel branches stand side by side in one column; the
    builder keeps the positions it saved (`use_positions`), laying out only graphs without any."""
    nodes = graph_json["nodes"]
    positions = {node["id"]: (node.get("position") or {}) for node in nodes}
    if use_positions and any(p.get("x") or p.get("y") for p in positions.values()):
        xs = [p.get("x", 0) for p in positions.values()]
        ys = [p.get("y", 0) for p in positions.values()]
        return {node_id: (p.get("x", 0) - min(xs) + PAD, p.get("y", 0) - min(ys) + PAD) for node_id, p in positions.items()}
    graph = graph_load(graph_json)
    depth: dict[str, int] = {}
    for node_id in _topological(graph):
        depth[node_id] = max((depth[parent] + 1 for parent in graph.parents(node_id)), default=0)
    rows: dict[int, int] = defaultdict(int)
    layout = {}
    for node in nodes:
        column = depth[node["id"]]
        layout[node["id"]] = (PAD + column * (NODE_WIDTH + GAP_X), PAD + rows[column] * (NODE_HEIGHT + GAP_Y))
        rows[column] += 1
    return layout


def _topological(graph: Graph) -> list[str]:
    order, seen = [], set()

    def visit(node_id):
        if node_id in seen:
            return
        seen.add(node_id)
        for parent in graph.parents(node_id):
            visit(parent)
        order.append(node_id)

    for node_id in graph.nodes:
        visit(node_id)
    return order


_LAYOUTS: dict = {}


def version_layout(version) -> dict[str, tuple[float, float]]:
    """The run page's layout of a version, computed once per process (versions never change)."""
    key = (version.pk, version.workflow_id)
    layout = _LAYOUTS.get(key)
    if layout is None:
        if len(_LAYOUTS) >= 512:
            _LAYOUTS.clear()
        layout = _LAYOUTS[key] = graph_layout(version.graph)
    return layout


def graph_with_layout(graph_json: dict) -> dict:
    """The graph with every node's position filled in (for the builder)."""
    layout = graph_layout(graph_json, use_positions=True)
    return {
        "nodes": [{**node, "position": {"x": layout[node["id"]][0], "y": layout[node["id"]][1]}} for node in graph_json["nodes"]],
        "edges": graph_json["edges"],
    }


def edge_paths(graph_json: dict, layout: dict) -> list[dict]:
    paths = []
    for edge in graph_json["edges"]:
        (x1, y1), (x2, y2) = layout[edge["from"]], layout[edge["to"]]
        sx, sy = x1 + NODE_WIDTH, y1 + NODE_HEIGHT / 2
        tx, ty = x2, y2 + NODE_HEIGHT / 2
        bend = max(40, abs(tx - sx) / 2)
        paths.append({"d": f"M {sx:.0f} {sy:.0f} C {sx + bend:.0f} {sy:.0f}, {tx - bend:.0f} {ty:.0f}, {tx:.0f} {ty:.0f}",
                      "from": edge["from"], "to": edge["to"]})
    return paths


# ---------------------------------------------------------------- images


def images_out(refs, *, absolute: bool = False, uploads: dict | None = None) -> list[dict]:
    """Signed links for a list of image dicts (an upload's thumbnail once the worker made it)."""
    if not isinstance(refs, list):
        return []
    if uploads is None:
        ids = [ref["upload_id"] for ref in refs if isinstance(ref, dict) and ref.get("upload_id")]
        uploads = {str(u.pk): u for u in Upload.objects.filter(pk__in=ids)} if ids else {}
    out = []
    for ref in refs:
        if not isinstance(ref, dict) or not ref.get("file"):
            continue
        upload = uploads.get(str(ref.get("upload_id")))
        thumbnail = (upload.card_file if upload else "") or ref.get("thumbnail") or ref["file"]
        out.append({
            "url": signed_file_url(ref["file"], absolute=absolute),
            "thumbnail_url": signed_file_url(thumbnail, absolute=absolute),
            "width": ref.get("width"), "height": ref.get("height"), "sha256": ref.get("sha256", ""),
            "upload_id": ref.get("upload_id"), "blurhash": getattr(upload, "blurhash", "") or "",
            "content_type": ref.get("content_type") or "", "duration_seconds": ref.get("duration_seconds"),
        })
        if ref.get("content_type", "").startswith("video/"):
            # A clip plays from `url`; its poster frame stands in until then.
            out[-1]["poster_url"] = signed_file_url(ref.get("preview") or thumbnail, absolute=absolute)
    return out


def node_uploads(nodes) -> dict:
    """The uploads behind the nodes' output images, read at once (for their thumbnails)."""
    ids = [
        ref["upload_id"] for node in nodes for value in (node.outputs or {}).values() if isinstance(value, list)
        for ref in value if isinstance(ref, dict) and ref.get("upload_id")
    ]
    return {str(u.pk): u for u in Upload.objects.filter(pk__in=set(ids))} if ids else {}


def node_images(node: NodeRun, *, absolute: bool = False, uploads: dict | None = None) -> list[dict]:
    images = []
    for value in (node.outputs or {}).values():
        if isinstance(value, list):
            images.extend(images_out(value, absolute=absolute, uploads=uploads))
    return images


def node_text(node: NodeRun) -> str:
    for value in (node.outputs or {}).values():
        if isinstance(value, str):
            return value
    return ""


# ---------------------------------------------------------------- data


def node_event_data(node: NodeRun, *, run: WorkflowRun, absolute: bool = True, uploads: dict | None = None) -> dict:
    return {
        "run_id": str(run.pk),
        "node_id": node.node_id,
        "type": node.type_key,
        "status": node.status,
        "progress": round(node.progress, 4),
        "cached": node.cached,
        "attempt": node.attempt,
        "model": node.model or None,
        "price": node.price,
        "charged_credits": node.charged_credits,
        "error": {"code": node.error_code, "message": node.error_message} if node.error_code else None,
        "images": node_images(node, absolute=absolute, uploads=uploads),
        "text": node_text(node) or None,
        "meta": node.meta,
        "revision": node.revision,
        "queued_at": _iso(node.queued_at),
        "started_at": _iso(node.started_at),
        "finished_at": _iso(node.finished_at),
    }


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def run_event_data(run: WorkflowRun) -> dict:
    return {
        "id": str(run.pk),
        "workflow_id": str(run.workflow_id),
        "version": run.version.number,
        "status": run.status,
        "quoted_credits": run.quoted_credits,
        "held_credits": run.held_credits,
        "charged_credits": run.charged_credits,
        "error_message": run.error_message or None,
        "revision": run.revision,
        "created_at": _iso(run.created_at),
        "finished_at": _iso(run.finished_at),
    }


# ---------------------------------------------------------------- HTML


def _node_context(node: NodeRun, run: WorkflowRun, *, uploads: dict | None = None) -> dict:
    version = run.version
    spec = version.loaded.nodes[node.node_id]
    node_type = node_type_get(node.type_key)
    x, y = version_layout(version)[node.node_id]
    return {
        "node": node, "run": run, "x": x, "y": y, "width": NODE_WIDTH, "height": NODE_HEIGHT,
        "label": spec.get("label") or (node_type.label if node_type else node.type_key),
        "type_label": node_type.label if node_type else node.type_key,
        "images": _with_download_names(node, node_images(node, uploads=uploads)[:4], uploads=uploads,
                                       label=spec.get("label") or (node_type.label if node_type else node.type_key)),
        "text": node_text(node),
        "can_retry": node.status == NodeStatus.FAILED and run.status in (RunStatus.RUNNING, RunStatus.FAILED),
        "oob": True,
    }


def _with_download_names(node: NodeRun, images: list[dict], *, uploads: dict | None, label: str) -> list[dict]:
    """A file name for each output's download: the photo's own name ("bottle – background removed")
    or the step's label (numbered when the step made several), with the stored file's extension."""
    refs = [ref for value in (node.outputs or {}).values() if isinstance(value, list)
            for ref in value if isinstance(ref, dict) and ref.get("file")]
    if uploads is None:
        uploads = node_uploads([node])
    named = []
    for number, (image, ref) in enumerate(zip(images, refs, strict=False), start=1):
        upload = uploads.get(str(ref.get("upload_id")))
        base = (upload.original_name if upload else "") or (f"{label} {number}" if len(refs) > 1 else label)
        filename = ref["file"].rsplit("/", 1)[-1]
        extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "png"
        if base.lower().endswith(f".{extension}"):
            base = base[: -len(extension) - 1]
        name = f"{base.replace('/', '-').replace(chr(92), '-')}.{extension}"
        named.append({**image, "download_name": name, "download_url": f"{image['url']}?download={quote(name)}"})
    return named


def node_html(node: NodeRun, *, run: WorkflowRun, oob: bool = True, csrf_token: str = "", **context) -> str:
    """`csrf_token`: the page's own, so a step's Retry form posts without JavaScript (live
    fragments have none; htmx sends the page's token in a header)."""
    ctx = _node_context(node, run, **context)
    ctx["oob"] = oob
    if csrf_token:
        ctx["csrf_token"] = csrf_token
    return render_to_string("workflows/_node.html", ctx)


def run_timeline(rows: list[dict]) -> list[dict]:
    """Bars from each node's start to its end on one time axis, so parallel branches show side by side."""
    started = [r["started_at"] for r in rows if r["started_at"]]
    if not started:
        return []
    origin = min(started)
    ends = [r["finished_at"] or r["updated_at"] for r in rows if r["started_at"]]
    span = max((max(ends) - origin).total_seconds(), 0.001)
    bars = []
    for row in sorted(rows, key=lambda r: (r["started_at"] is None, r["started_at"] or origin, r["node_id"])):
        if row["started_at"] is None:
            continue
        end = row["finished_at"] or row["updated_at"]
        left = (row["started_at"] - origin).total_seconds() / span * 100
        width = max((end - row["started_at"]).total_seconds() / span * 100, 0.8)
        bars.append({
            "node_id": row["node_id"], "status": row["status"], "cached": row["cached"], "left": round(left, 2),
            "width": round(min(width, 100 - left), 2), "seconds": round((end - row["started_at"]).total_seconds(), 2),
        })
    return bars


def run_header_html(run: WorkflowRun, *, oob: bool = True, csrf_token: str = "") -> str:
    """The run's status, step counts and credits, from the run's own tallies: no read of its nodes.
    `csrf_token` as for `node_html`: the page's, so Cancel and Resume post without JavaScript."""
    context = {"run": run, "oob": oob}
    if csrf_token:
        context["csrf_token"] = csrf_token
    return render_to_string("workflows/_run_header.html", context)


def run_timeline_html(run: WorkflowRun, *, oob: bool = True) -> str:
    """When each step ran: reads every node, so it is drawn for the page, a resync and a change of
    the run's own state, not for each step's event."""
    rows = list(NodeRun.objects.filter(run=run).values(
        "node_id", "status", "cached", "started_at", "finished_at", "updated_at",
    ))
    return render_to_string("workflows/_run_timeline.html", {"run": run, "oob": oob, "timeline": run_timeline(rows)})


def run_html(run: WorkflowRun, *, oob: bool = True, timeline_oob: bool | None = None, csrf_token: str = "") -> str:
    """The header and the timeline (the timeline out of band unless said otherwise)."""
    return (run_header_html(run, oob=oob, csrf_token=csrf_token)
            + run_timeline_html(run, oob=oob if timeline_oob is None else timeline_oob))


def run_page_context(run: WorkflowRun, nodes: list[NodeRun], *, csrf_token: str = "") -> dict:
    layout = version_layout(run.version)
    uploads = node_uploads(nodes)
    width = max((x for x, _ in layout.values()), default=0) + NODE_WIDTH + PAD
    height = max((y for _, y in layout.values()), default=0) + NODE_HEIGHT + PAD
    return {
        "run": run,
        "node_fragments": [node_html(node, run=run, oob=False, uploads=uploads, csrf_token=csrf_token) for node in nodes],
        "edges": edge_paths(run.version.graph, layout),
        "canvas_width": width, "canvas_height": height,
        "run_header": run_html(run, oob=False, csrf_token=csrf_token),
    }
