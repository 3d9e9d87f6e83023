"""Simulated ComfyUI server (mounted under /comfyui).

ComfyUI's own API, as its `server.py` serves it:

- `POST /prompt` `{"prompt": <API-format graph>, "client_id"}` → `{prompt_id, number, node_errors: {}}`,
  or 400 `{"error": {type, message, details, extra_info}, "node_errors": {<node id>: {errors,
  dependent_outputs, class_type}}}`. Validation is loose: every node has a `class_type`; there is a
  SaveImage; a sampler (a node with `steps` and `seed`/`noise_seed`) feeds it; seeds are within
  0..2**64-1; model files are among those "installed" below; latent sizes are 16..16384.
- `GET /ws?clientId=<id>`: a websocket. On connect: `status` (queue_remaining, sid). For a prompt
  queued with that client id: `execution_start`, `execution_cached`, `executing` per node,
  `progress` {value, max} per sampler step each followed by a binary preview frame (uint32 event 1,
  uint32 format 1 = JPEG, then the JPEG), `executed` for the SaveImage, `execution_success`, then
  `executing` {node: null} once the history is saved; `status` is broadcast on queue changes.
  Failures send `execution_error`; interrupts `execution_interrupted`; both then `executing` null.
- `GET /prompt` → `{"exec_info": {"queue_remaining": n}}`.
- `GET /history/{prompt_id}` → `{}` until the prompt ends, then `{id: {prompt, outputs, status, meta}}`;
  `GET /history[?max_items=n]` → the latest finished prompts in that shape.
- `GET /view?filename=&subfolder=&type=output` → the PNG; 404 if unknown.
- `POST /interrupt` (optional `{"prompt_id"}`: only if that prompt is running) and
  `POST /queue` `{"delete": [ids]}` / `{"clear": true}` → 200, empty body.

Prompts run one at a time, like ComfyUI's single worker; each takes `job_seconds`, spread over the
sampler's steps. Images are `common.picture` at the latent's width × height, `batch_size` of them.

Knobs: faults are injected on `POST /prompt`. `fail_job_rate` → an `execution_error` (out of memory)
halfway through sampling. ComfyUI has no safety filter of its own: a prompt with a `blocked_words`
word is treated as a content-filter custom node raising before sampling, which clients see as any
other `execution_error`.
Output variants: "default" — a preview frame after every step; "no_previews" — the server runs
without `--preview-method`, so only `progress` messages.
"""

import asyncio
import itertools
import json
import struct
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from .. import knobs as knob_store
from ..common import inject_faults, is_blocked, picture, preview, spawn
from ..http import Request, Response, Router, json_response

VENDOR = "comfyui"
PREFIX = "/comfyui"
SEED_MAX = 2**64 - 1
SIZE_MIN, SIZE_MAX = 16, 16384
HISTORY_SIZE = 100  # finished prompts (and their images) kept, like ComfyUI's bounded history
# What this pretend GPU box has on disk, per loader input.
INSTALLED = {
    ("CheckpointLoaderSimple", "ckpt_name"): ["sd_xl_base_1.0.safetensors", "flux1-schnell-fp8.safetensors"],
    ("UNETLoader", "unet_name"): ["flux1-schnell.safetensors", "flux1-dev.safetensors"],
    ("DualCLIPLoader", "clip_name1"): ["clip_l.safetensors", "t5xxl_fp8_e4m3fn.safetensors"],
    ("DualCLIPLoader", "clip_name2"): ["clip_l.safetensors", "t5xxl_fp8_e4m3fn.safetensors"],
    ("VAELoader", "vae_name"): ["ae.safetensors", "sdxl_vae.safetensors"],
}


@dataclass
class Prompt:
    prompt_id: str
    number: int
    graph: dict
    client_id: str
    fail: str = ""  # "", "oom" or "blocked": decided when queued
    running: bool = False
    interrupted: bool = False
    deleted: bool = False
    history: dict | None = None  # set when the prompt ends
    messages: list = field(default_factory=list)


_prompts: dict[str, Prompt] = {}
_sockets: dict[str, asyncio.Queue] = {}  # client id → outgoing ASGI messages
_files: dict[tuple[str, str, str], bytes] = {}  # (type, subfolder, filename) → bytes
_counters: dict[str, int] = {}  # filename prefix → last image number
_numbers = itertools.count(1)
_worker = asyncio.Lock()


# ---------------------------------------------------------------- graph helpers


def _error(kind: str, message: str, details: str = "", extra_info: dict | None = None) -> dict:
    return {"type": kind, "message": message, "details": details, "extra_info": extra_info or {}}


def _is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def _sampler_id(graph: dict) -> str | None:
    for node_id, node in graph.items():
        inputs = node.get("inputs", {})
        if "steps" in inputs and ("seed" in inputs or "noise_seed" in inputs):
            return node_id
    return None


def _execution_order(graph: dict) -> list[str]:
    """Each node after the nodes it takes inputs from."""
    order: list[str] = []

    def visit(node_id: str, path: frozenset) -> None:
        if node_id in order or node_id in path or node_id not in graph:
            return
        for value in graph[node_id].get("inputs", {}).values():
            if _is_link(value):
                visit(value[0], path | {node_id})
        order.append(node_id)

    for node_id in graph:
        visit(node_id, frozenset())
    return order


def _linked(graph: dict, value) -> dict:
    return graph.get(value[0], {}) if _is_link(value) else {}


def _prompt_text(graph: dict, sampler: dict) -> str:
    """Follow the sampler's positive input back to the node that holds the text."""
    node = _linked(graph, sampler["inputs"].get("positive"))
    for _ in range(len(graph)):
        inputs = node.get("inputs", {})
        if isinstance(inputs.get("text"), str):
            return inputs["text"]
        node = next((_linked(graph, v) for v in inputs.values() if _is_link(v)), {})
    return ""


def _node_errors(node: dict) -> list[dict]:
    errors, inputs = [], node.get("inputs", {})
    for (class_type, name), choices in INSTALLED.items():
        if node["class_type"] == class_type and inputs.get(name) not in choices:
            value = inputs.get(name)
            errors.append(_error("value_not_in_list", "Value not in list",
                                 f"{name}: '{value}' not in {choices}",
                                 {"input_name": name, "received_value": value}))
    for name in ("seed", "noise_seed"):
        if name in inputs and not _is_link(inputs[name]):
            value = inputs[name]
            if not isinstance(value, int) or value < 0:
                errors.append(_error("value_smaller_than_min", "Value smaller than min",
                                     f"{name}: {value} < 0"))
            elif value > SEED_MAX:
                errors.append(_error("value_bigger_than_max", "Value bigger than max",
                                     f"{name}: {value} > {SEED_MAX}"))
    if "steps" in inputs and not (isinstance(inputs["steps"], int) and 1 <= inputs["steps"] <= 10000):
        errors.append(_error("value_not_valid", "Value not valid", f"steps: {inputs['steps']}"))
    for name in ("width", "height"):
        if name in inputs and not (isinstance(inputs[name], int) and SIZE_MIN <= inputs[name] <= SIZE_MAX):
            errors.append(_error("value_not_valid", "Value not valid", f"{name}: {inputs[name]}"))
    return errors


def _validate(graph) -> tuple[dict, dict] | None:
    """None when the graph may run, else (error, node_errors) as ComfyUI answers them."""
    if not isinstance(graph, dict) or not graph:
        return _error("invalid_prompt", "Invalid prompt", "the prompt must be an object of nodes"), {}
    for node_id, node in graph.items():
        if not isinstance(node, dict) or "class_type" not in node:
            message = "Cannot execute because a node is missing the class_type property."
            return _error("invalid_prompt", message, f"Node ID '#{node_id}'"), {}
    outputs = [node_id for node_id, node in graph.items() if node["class_type"] == "SaveImage"]
    if not outputs:
        return _error("prompt_no_outputs", "Prompt has no outputs"), {}
    errors = {node_id: _node_errors(node) for node_id, node in graph.items()}
    if _sampler_id(graph) is None:
        errors[outputs[0]].append(
            _error("required_input_missing", "Required input is missing",
                   "images: no sampler feeds this output")
        )
    node_errors = {
        node_id: {"errors": found, "dependent_outputs": outputs, "class_type": graph[node_id]["class_type"]}
        for node_id, found in errors.items() if found
    }
    if node_errors:
        return _error("prompt_outputs_failed_validation", "Prompt outputs failed validation"), node_errors
    return None


# ---------------------------------------------------------------- the socket side


def _send(client_id: str, kind: str, data: dict) -> None:
    if outbox := _sockets.get(client_id):
        outbox.put_nowait({"type": "websocket.send", "text": json.dumps({"type": kind, "data": data})})


def _send_bytes(client_id: str, frame: bytes) -> None:
    if outbox := _sockets.get(client_id):
        outbox.put_nowait({"type": "websocket.send", "bytes": frame})


def _queue_remaining() -> int:
    return sum(1 for p in _prompts.values() if p.history is None and not p.deleted)


def _broadcast_status() -> None:
    for client_id in list(_sockets):
        _send(client_id, "status", {"status": {"exec_info": {"queue_remaining": _queue_remaining()}}})


def _emit(prompt: Prompt, kind: str, data: dict) -> None:
    data = {**data, "prompt_id": prompt.prompt_id}
    if kind.startswith("execution_"):
        prompt.messages.append([kind, {**data, "timestamp": int(time.time() * 1000)}])
    _send(prompt.client_id, kind, data)


async def _execute(prompt: Prompt) -> None:
    async with _worker:
        if prompt.deleted:
            return
        prompt.running = True
        try:
            outputs, status = await _run_nodes(prompt)
        finally:
            prompt.running = False
        prompt.history = {
            "prompt": [prompt.number, prompt.prompt_id, prompt.graph, {"client_id": prompt.client_id},
                       list(outputs)],
            "outputs": outputs,
            "status": {"status_str": status, "completed": status == "success", "messages": prompt.messages},
            "meta": {node_id: {"node_id": node_id, "display_node": node_id, "parent_node": None,
                               "real_node_id": node_id} for node_id in outputs},
        }
        _forget_old()
        _broadcast_status()
        _emit(prompt, "executing", {"node": None, "display_node": None})


def _forget_old() -> None:
    finished = [p for p in _prompts.values() if p.history is not None or p.deleted]
    for prompt in finished[:-HISTORY_SIZE]:
        del _prompts[prompt.prompt_id]
        for output in (prompt.history or {}).get("outputs", {}).values():
            for saved in output["images"]:
                _files.pop((saved["type"], saved["subfolder"], saved["filename"]), None)


async def _run_nodes(prompt: Prompt) -> tuple[dict, str]:
    """Walk the graph as the executor would; returns (outputs, status_str)."""
    knobs = knob_store.knobs(VENDOR)
    graph = prompt.graph
    sampler_id = _sampler_id(graph)
    sampler = graph[sampler_id]
    latent = _linked(graph, sampler["inputs"].get("latent_image")).get("inputs", {})
    width, height = latent.get("width", 1024), latent.get("height", 1024)
    seed = sampler["inputs"].get("seed", sampler["inputs"].get("noise_seed", 0))
    text = _prompt_text(graph, sampler)
    _emit(prompt, "execution_start", {})
    _emit(prompt, "execution_cached", {"nodes": []})
    outputs, images = {}, []
    for node_id in _execution_order(graph):
        node = graph[node_id]
        _emit(prompt, "executing", {"node": node_id, "display_node": node_id})
        if node_id == sampler_id:
            if prompt.fail == "blocked":
                message = "Prompt rejected by the content filter."
                return outputs, _fail(prompt, node_id, node, "Exception", message)
            images = [picture(text, seed + i, width, height) for i in range(latent.get("batch_size", 1))]
            steps = sampler["inputs"]["steps"]
            frame = struct.pack(">II", 1, 1) + preview(images[0])
            for step in range(1, steps + 1):
                await asyncio.sleep(knobs.job_seconds / steps)
                if prompt.interrupted:
                    _emit(prompt, "execution_interrupted",
                          {"node_id": node_id, "node_type": node["class_type"], "executed": []})
                    return outputs, "error"
                if prompt.fail == "oom" and step > steps // 2:
                    return outputs, _fail(prompt, node_id, node, "torch.OutOfMemoryError",
                                          "Allocation on device would exceed allowed memory. (out of memory)")
                _emit(prompt, "progress", {"value": step, "max": steps, "node": node_id})
                if knobs.output_variant != "no_previews":
                    _send_bytes(prompt.client_id, frame)
        elif node["class_type"] == "SaveImage":
            saved = [_save(node["inputs"].get("filename_prefix", "ComfyUI"), image) for image in images]
            outputs[node_id] = {"images": saved}
            _emit(prompt, "executed", {"node": node_id, "display_node": node_id, "output": {"images": saved}})
    _emit(prompt, "execution_success", {})
    return outputs, "success"


def _fail(prompt: Prompt, node_id: str, node: dict, exception_type: str, message: str) -> str:
    _emit(prompt, "execution_error", {
        "node_id": node_id, "node_type": node["class_type"], "executed": [], "exception_message": message,
        "exception_type": exception_type, "traceback": [], "current_inputs": {}, "current_outputs": [],
    })
    return "error"


def _save(prefix: str, image: bytes) -> dict:
    """Like SaveImage: `a/b` saves `b_00001_.png` in subfolder `a`."""
    subfolder, _, name = prefix.rpartition("/")
    _counters[prefix] = number = _counters.get(prefix, 0) + 1
    filename = f"{name}_{number:05d}_.png"
    _files[("output", subfolder, filename)] = image
    return {"filename": filename, "subfolder": subfolder, "type": "output"}


# ---------------------------------------------------------------- routes


def register(router: Router) -> None:
    @router.route("POST", f"{PREFIX}/prompt")
    async def queue_prompt(request: Request):
        if fault := await inject_faults(VENDOR, request):
            return fault
        try:
            body = request.json()
        except ValueError:
            return json_response({"error": _error("invalid_prompt", "Invalid JSON"), "node_errors": {}}, 400)
        if not isinstance(body, dict) or "prompt" not in body:
            return json_response({"error": _error("no_prompt", "No prompt provided", "No prompt provided"),
                                  "node_errors": {}}, 400)
        if invalid := _validate(body["prompt"]):
            error, node_errors = invalid
            return json_response({"error": error, "node_errors": node_errors}, 400)
        knobs = knob_store.knobs(VENDOR)
        graph = body["prompt"]
        text = _prompt_text(graph, graph[_sampler_id(graph)])
        fail = "blocked" if is_blocked(VENDOR, text) else ""
        if not fail and knob_store.roll(knobs.fail_job_rate):
            fail = "oom"
        prompt = Prompt(prompt_id=str(uuid.uuid4()), number=next(_numbers), graph=graph,
                        client_id=str(body.get("client_id") or ""), fail=fail)
        _prompts[prompt.prompt_id] = prompt
        _broadcast_status()
        spawn(_execute(prompt))
        return json_response({"prompt_id": prompt.prompt_id, "number": prompt.number, "node_errors": {}})

    @router.route("GET", f"{PREFIX}/prompt")
    async def queue_info(request: Request):
        return json_response({"exec_info": {"queue_remaining": _queue_remaining()}})

    @router.route("GET", f"{PREFIX}/history")
    async def all_history(request: Request):
        finished = [p for p in _prompts.values() if p.history is not None]
        if max_items := int(request.query.get("max_items") or 0):
            finished = finished[-max_items:]
        return json_response({p.prompt_id: p.history for p in finished})

    @router.route("GET", f"{PREFIX}/history/(?P<prompt_id>[^/]+)")
    async def history(request: Request):
        prompt = _prompts.get(request.params["prompt_id"])
        return json_response({prompt.prompt_id: prompt.history} if prompt and prompt.history else {})

    @router.route("GET", f"{PREFIX}/view")
    async def view(request: Request):
        query = request.query
        key = (query.get("type", "output"), query.get("subfolder", ""), query.get("filename", ""))
        if key not in _files:
            return Response(404)
        return Response(200, _files[key], {"content-type": "image/png"})

    @router.route("POST", f"{PREFIX}/interrupt")
    async def interrupt(request: Request):
        knob_store.count(f"{VENDOR}:interrupt")
        try:
            wanted = (request.json() or {}).get("prompt_id")
        except (ValueError, AttributeError):
            wanted = None
        for prompt in _prompts.values():
            if prompt.running and wanted in (None, prompt.prompt_id):
                prompt.interrupted = True
        return Response(200)

    @router.route("POST", f"{PREFIX}/queue")
    async def edit_queue(request: Request):
        try:
            body = request.json() or {}
        except ValueError:
            body = {}
        doomed = set(body.get("delete", []))
        for prompt in _prompts.values():
            waiting = not (prompt.running or prompt.deleted) and prompt.history is None
            if waiting and (body.get("clear") or prompt.prompt_id in doomed):
                prompt.deleted = True
                knob_store.count(f"{VENDOR}:deleted")
        _broadcast_status()
        return Response(200)

    @router.ws(f"{PREFIX}/ws")
    async def socket(scope, receive, send, params):
        if (await receive())["type"] != "websocket.connect":
            return
        query = parse_qs(scope.get("query_string", b"").decode())
        client_id = (query.get("clientId") or [uuid.uuid4().hex])[-1]
        await send({"type": "websocket.accept"})
        outbox: asyncio.Queue = asyncio.Queue()
        _sockets[client_id] = outbox  # a reconnect with the same id replaces the old socket
        _send(client_id, "status", {"status": {"exec_info": {"queue_remaining": _queue_remaining()}},
                                    "sid": client_id})

        async def pump():
            while True:
                await send(await outbox.get())

        pumping = asyncio.ensure_future(pump())
        try:
            while (await receive())["type"] != "websocket.disconnect":
                pass  # ComfyUI ignores what clients send
        finally:
            pumping.cancel()
            if _sockets.get(client_id) is outbox:
                del _sockets[client_id]

