"""Simulated Replicate predictions API (mounted under /replicate; point REPLICATE_BASE_URL there).

Routes, as Replicate serves them under /v1:

- `POST /v1/models/{owner}/{name}/predictions` — body `{"input", "webhook"?, "webhook_events_filter"?}`
- `POST /v1/predictions` — the same plus a required `version` (`owner/name`, `owner/name:<hex>` or `<hex>`)
- `GET /v1/predictions/{id}`, `POST /v1/predictions/{id}/cancel`
- `GET /v1/webhooks/default/secret` — `{"key": "whsec_…"}`
- `GET /files/{id}/{n}.png` — the output files (Replicate's delivery CDN), drawn by `common.picture()`
- `GET /v1/files/{id}-{n}/download` — the same files served from the API host, which (like every
  API route) needs the bearer token: "You'll need to pass the `Authorization` header to request them"

Every API call passes `inject_faults` first (429s carry `retry_after` in a problem-details body as
well as the Retry-After header), then needs `Authorization: Bearer <REPLICATE_API_TOKEN>` (401
otherwise). Unknown top-level keys and bad inputs answer 422 "Input validation failed" with
`invalid_fields`. Creates answer 201 with the prediction; with `Prefer: wait[=N]` the answer is
held until the prediction ends or N seconds pass (`Preference-Applied` echoes it).

A prediction is `starting` for a tenth of the knob `job_seconds`, then `processing` while its
`logs` grow (`Using seed: N`, then a tqdm bar per step), then ends: `succeeded`; `failed` with
"E005: The input or output was flagged as sensitive." for a prompt holding a `blocked_words`
knob word; `failed` with an E1000 error for a `fail_job_rate` roll; `canceled` when cancelled.
Image sizes follow `width`/`height`, else `aspect_ratio` as FLUX does on Replicate (1:1 →
1024×1024, 16:9 → 1344×768 …), else 1024×1024.

Face-swap models (inputs `input_image` and `swap_image`, base64 data URIs; no prompt) answer one
file URL string with a real swap made by Darkroom's classical face swap; a photo without a face
fails with "No face detected in the target image" (or "swap image").

Image-to-video models (input `start_image`, a base64 data URI, and `duration` 5 or 10) answer
one file URL string: a real H.264 MP4 of that length animated from the image by Darkroom's
offline motion engine (640 pixels wide, the image's shape).

Models that take photos or make clips (`contracts.py`: Kontext, Fill, the upscalers and
cut-outs, Veo, Kling 2.x, Wan, Hailuo, Seedance, Luma …) have their inputs checked against their
published schemas and answer their published output shape (one URL string, or a list), the file
made for real (an MP4 for a clip). Community models created by a bare version id are named by it.

Knob `output_variant` (read when the prediction is created):
- `default`: `output` is a list of file URLs, one per `num_outputs`
- `string`: one file URL string (the FLUX 1.1 Pro shape)
- `data_uri`: one `data:image/png;base64,…` string (what sync mode once returned)
- `data_uri_list`: a list of data URIs, one per `num_outputs`
- `null`: `succeeded` with `output: null`
- `aborted`: ends `aborted` without ever starting
- `api_file`: like `default`, but the URLs are on the API host (`/v1/files/…/download`)

Knob `files_url` (another host, e.g. a CDN): file URLs point there instead of at the simulator's
`/files/…`, and with `api_file` the API host answers each download with a 302 to that host.

Knobs `missing_outputs` (a list answers that many fewer files than `num_outputs`, at least one),
`file_delay_ms` (`common.file_delay`), `lost_answers` (`common.answer_lost`; every prediction made
counts `replicate:created`, every cancel that stops one `replicate:canceled`) and
`webhook_before_answer` (the create answer, as made, is held until the `completed` webhook went out).

Webhooks: when a create names a `webhook`, the prediction is POSTed there on the `start` and
`completed` events (those in `webhook_events_filter`; only `completed` without a filter), signed
the Standard Webhooks way with standins.REPLICATE_WEBHOOK_SECRET (`webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64>`); copies from the `webhook_copies` knob keep the same
webhook-id, as Replicate's retries do; `webhook_drop_rate` drops some; `webhook_delay` holds each.
"""

import asyncio
import base64
import hashlib
import hmac
import io
import json
import random
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus

from apps.providers.adapters.offline import motion
from devtools import standins

from .. import common, contracts, face_swap
from .. import knobs as knob_store
from ..common import deliver_webhook, file_delay, inject_faults, is_blocked, picture, spawn
from ..http import Request, Response, Router, json_response

VENDOR = "replicate"
PREFIX = "/replicate"
STEPS = 20
BAR_WIDTH = 10
PARTIAL_BLOCKS = " ▏▎▍▌▋▊▉"
# FLUX on Replicate: aspect_ratio → output size.
ASPECT_SIZES = {
    "1:1": (1024, 1024), "16:9": (1344, 768), "21:9": (1536, 640), "3:2": (1216, 832), "2:3": (832, 1216),
    "4:5": (896, 1088), "5:4": (1088, 896), "3:4": (896, 1152), "4:3": (1152, 896), "9:16": (768, 1344),
    "9:21": (640, 1536),
}
INTEGER_INPUTS = {"num_outputs": (1, 4), "width": (64, 2048), "height": (64, 2048), "seed": (0, None)}
EVENTS = ("start", "output", "logs", "completed")
TERMINAL = ("succeeded", "failed", "canceled", "aborted")
VERSION = re.compile(r"^(?:(?P<model>[\w.-]+/[\w.-]+)(?::(?P<id>[0-9a-f]{64}))?|(?P<bare>[0-9a-f]{64}))$")
SAFETY_ERROR = "E005: The input or output was flagged as sensitive."
FAILURE_ERROR = "E1000: An unknown error occurred while running the model."
# Image-to-video (Kling on Replicate): the first frame and the clip lengths it makes.
VIDEO_IMAGE_INPUT = "start_image"
VIDEO_DURATIONS = (5, 10)
# A face-swap model (codeplugtech/face-swap and alikes): the photo and the face, as files.
FACE_SWAP_INPUTS = ("input_image", "swap_image")


@dataclass
class Prediction:
    id: str
    model: str
    version: str
    input: dict
    base_url: str
    variant: str
    job_seconds: float
    blocked: bool
    fails: bool
    webhook: str | None
    events: tuple[str, ...]
    seed: int
    face_swap: bool = False
    contract: contracts.Contract | None = None
    created_at: float = field(default_factory=time.time)
    status: str = "starting"
    started_at: float | None = None
    completed_at: float | None = None
    logs: str = ""
    output: object = None
    error: str | None = None
    files: dict[int, bytes] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    notified: asyncio.Event = field(default_factory=asyncio.Event)  # the `completed` webhook went out

    @property
    def url(self) -> str:
        return f"{self.base_url}{PREFIX}/v1/predictions/{self.id}"

    def as_json(self) -> dict:
        body = {
            "id": self.id, "model": self.model, "version": self.version, "input": self.input,
            "logs": self.logs, "output": self.output, "data_removed": False, "error": self.error,
            "status": self.status, "source": "api", "created_at": _iso(self.created_at),
            "urls": {
                "get": self.url, "cancel": f"{self.url}/cancel",
                "web": f"{self.base_url}{PREFIX}/p/{self.id}",
            },
        }
        if self.started_at:
            body["started_at"] = _iso(self.started_at)
        if self.completed_at:
            body["completed_at"] = _iso(self.completed_at)
            metrics = {"total_time": round(self.completed_at - self.created_at, 6)}
            if self.started_at:
                metrics["predict_time"] = round(self.completed_at - self.started_at, 6)
            body["metrics"] = metrics
        return body


_predictions: dict[str, Prediction] = {}


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _problem(status: int, title: str, detail: str, **more) -> Response:
    return json_response({"title": title, "detail": detail, "status": status, **more}, status)


def _field_error(kind: str, name: str, description: str) -> dict:
    return {"type": kind, "field": name, "description": description}


def _invalid(fields: list[dict]) -> Response:
    detail = "".join(f"- {f['field'] or 'body'}: {f['description']}\n" for f in fields)
    return _problem(422, "Input validation failed", detail, invalid_fields=fields)


async def _api_guard(request: Request) -> Response | None:
    """Faults first, in Replicate's problem-details shape, then the bearer token."""
    if fault := await inject_faults(VENDOR, request):
        if fault.status == 429:
            wait = knob_store.knobs(VENDOR).retry_after
            return Response(429, json.dumps({
                "title": "Request was throttled.", "status": 429, "retry_after": wait,
                "detail": f"Request was throttled. Expected available in {wait:g} second.",
            }).encode(), fault.headers)
        return _problem(fault.status, HTTPStatus(fault.status).phrase, "Something went wrong.")
    if request.headers.get("authorization") != f"Bearer {standins.REPLICATE_API_TOKEN}":
        return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")
    return None


def _check_input(inputs) -> list[dict]:
    if not isinstance(inputs, dict):
        return [_field_error("required", "", "input is required")]
    if any(name in inputs for name in FACE_SWAP_INPUTS):
        return _check_face_swap(inputs)
    errors = []
    if not isinstance(inputs.get("prompt"), str):
        errors.append(_field_error("required", "input", "prompt is required"))
    for name, (low, high) in INTEGER_INPUTS.items():
        if name not in inputs:
            continue
        value, field_name = inputs[name], f"input.{name}"
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(_field_error("invalid_type", field_name, "Invalid type. Expected: integer"))
        elif value < low:
            errors.append(_field_error("number_gte", field_name, f"Must be greater than or equal to {low}"))
        elif high is not None and value > high:
            errors.append(_field_error("number_lte", field_name, f"Must be less than or equal to {high}"))
    if VIDEO_IMAGE_INPUT in inputs:
        errors += _check_video(inputs)
    if "aspect_ratio" in inputs and inputs["aspect_ratio"] not in ASPECT_SIZES:
        choices = ", ".join(f'"{ratio}"' for ratio in ASPECT_SIZES)
        description = f"aspect_ratio must be one of the following: {choices}"
        errors.append(_field_error("enum", "input.aspect_ratio", description))
    return errors


def _check_face_swap(inputs: dict) -> list[dict]:
    errors = []
    for name in FACE_SWAP_INPUTS:
        if name not in inputs:
            errors.append(_field_error("required", "input", f"{name} is required"))
            continue
        try:
            face_swap.decode(inputs[name], name)
        except face_swap.FaceSwapInputError as error:
            errors.append(_field_error("format", f"input.{name}", f"Does not match format 'uri': {error}"))
    return errors


async def _finish_face_swap(prediction: Prediction) -> None:
    """The real swap, off the event loop; a photo without a face fails as the model does."""
    target, face = (face_swap.decode(prediction.input[name], name) for name in FACE_SWAP_INPUTS)
    png, error = await asyncio.to_thread(face_swap.swap, target, face)
    if png is None:
        _finish(prediction, "failed", error=error)
        return
    prediction.files[0] = png
    if prediction.variant.startswith("data_uri"):
        output = f"data:image/png;base64,{base64.b64encode(png).decode()}"
    else:
        output = f"{prediction.base_url}{PREFIX}/files/{prediction.id}/0.png"
    _finish(prediction, "succeeded", output=output)  # one file URL string, as these models answer


def _start_image(inputs: dict):
    from PIL import Image

    header, _, data = str(inputs[VIDEO_IMAGE_INPUT]).partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64"):
        raise ValueError("not a base64 image data URI")
    image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
    image.load()
    return image.convert("RGB")


def _check_video(inputs: dict) -> list[dict]:
    errors = []
    try:
        _start_image(inputs)
    except (ValueError, OSError) as error:
        errors.append(_field_error("format", f"input.{VIDEO_IMAGE_INPUT}", f"Does not match format 'uri': {error}"))
    if inputs.get("duration", 5) not in VIDEO_DURATIONS:
        choices = ", ".join(str(d) for d in VIDEO_DURATIONS)
        errors.append(_field_error("enum", "input.duration", f"duration must be one of the following: {choices}"))
    return errors


async def _finish_clip(prediction: Prediction) -> None:
    """A real MP4 animated from the start image, encoded off the event loop."""
    image = _start_image(prediction.input)
    width = 640
    height = max(2, round(width * image.height / image.width / 2) * 2)
    prediction.files[0] = await asyncio.to_thread(
        motion.encode_mp4, image, width=width, height=height, seconds=prediction.input.get("duration", 5),
        fps=24, seed=prediction.seed,
    )
    _finish(prediction, "succeeded", output=f"{prediction.base_url}{PREFIX}/files/{prediction.id}/0.mp4")


async def _finish_contract(prediction: Prediction) -> None:
    """A model from contracts.py: its one output made for real, answered in its published shape."""
    content, content_type, _, _ = await asyncio.to_thread(
        contracts.make, prediction.contract, prediction.input, prediction.seed)
    prediction.files[0] = content
    url = f"{prediction.base_url}{PREFIX}/files/{prediction.id}/0.{'mp4' if content_type == 'video/mp4' else 'png'}"
    _finish(prediction, "succeeded", output=url if prediction.contract.output == "string" else [url])


def _size(inputs: dict) -> tuple[int, int]:
    if "width" in inputs or "height" in inputs:
        return inputs.get("width", 1024), inputs.get("height", 1024)
    return ASPECT_SIZES.get(inputs.get("aspect_ratio"), (1024, 1024))


def _prefer_wait(header: str) -> int:
    """Seconds asked for by `Prefer: wait` or `wait=N` (1–60); 0 when absent or malformed."""
    if match := re.fullmatch(r"wait(?:=([1-9]|[1-9][0-9]))?", header.strip()):
        return min(int(match[1] or 60), 60)
    return 0


def _progress_line(step: int, elapsed: float) -> str:
    done = step * BAR_WIDTH / STEPS
    full = int(done)
    bar = "█" * full
    if full < BAR_WIDTH:
        bar += PARTIAL_BLOCKS[int((done - full) * len(PARTIAL_BLOCKS))] + " " * (BAR_WIDTH - full - 1)
    rate = step / elapsed if elapsed > 0 else 0.0
    return f"{step * 100 // STEPS:3d}%|{bar}| {step}/{STEPS} [00:00<00:00, {rate:.2f}it/s]\n"


def _sign(webhook_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(standins.REPLICATE_WEBHOOK_SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _notify(prediction: Prediction, event: str) -> None:
    then = prediction.notified.set if event == "completed" else None  # releases a held create answer
    if not prediction.webhook or event not in prediction.events:
        return then() if then else None
    body = json.dumps(prediction.as_json()).encode()
    webhook_id = f"msg_{secrets.token_urlsafe(18)}"

    def headers_for_copy(copy: int) -> dict[str, str]:
        timestamp = str(int(time.time()))
        return {
            "content-type": "application/json", "webhook-id": webhook_id, "webhook-timestamp": timestamp,
            "webhook-signature": _sign(webhook_id, timestamp, body),
        }

    spawn(deliver_webhook(VENDOR, prediction.webhook, body, headers_for_copy, then=then))


def _finish(prediction: Prediction, status: str, *, output=None, error: str | None = None) -> None:
    prediction.status, prediction.output, prediction.error = status, output, error
    prediction.completed_at = time.time()
    prediction.done.set()
    _notify(prediction, "completed")


def _outputs(prediction: Prediction):
    """The `output` in the prediction's variant's shape, drawing its files."""
    single = prediction.variant in ("string", "data_uri")
    width, height = _size(prediction.input)
    for index in range(1 if single else knob_store.outputs_count(VENDOR, prediction.input.get("num_outputs", 1))):
        prediction.files[index] = picture(prediction.input["prompt"], prediction.seed + index, width, height)
    if prediction.variant.startswith("data_uri"):
        encoded = (base64.b64encode(png).decode() for png in prediction.files.values())
        items = [f"data:image/png;base64,{data}" for data in encoded]
    elif prediction.variant == "api_file":
        api_files = f"{prediction.base_url}{PREFIX}/v1/files/{prediction.id}"
        items = [f"{api_files}-{index}/download" for index in prediction.files]
    else:
        items = [_file_url(prediction, index) for index in prediction.files]
    return items[0] if single else items


def _file_url(prediction: Prediction, index: int) -> str:
    """Where file `index` is delivered: here, or on the `files_url` host."""
    base = knob_store.knobs(VENDOR).files_url.rstrip("/") or prediction.base_url
    return f"{base}{PREFIX}/files/{prediction.id}/{index}.png"


async def _run(prediction: Prediction) -> None:
    await asyncio.sleep(prediction.job_seconds * 0.1)  # a worker boots
    if prediction.status != "starting":
        return  # canceled meanwhile
    if prediction.variant == "aborted":
        _finish(prediction, "aborted")
        return
    prediction.status, prediction.started_at = "processing", time.time()
    prediction.logs = f"Using seed: {prediction.seed}\n{_progress_line(0, 0)}"
    _notify(prediction, "start")
    for step in range(1, STEPS + 1):
        await asyncio.sleep(prediction.job_seconds * 0.9 / STEPS)
        if prediction.status != "processing":
            return
        prediction.logs += _progress_line(step, time.time() - prediction.started_at)
    if prediction.blocked:
        _finish(prediction, "failed", error=SAFETY_ERROR)
    elif prediction.fails:
        _finish(prediction, "failed", error=FAILURE_ERROR)
    elif prediction.variant == "null":
        _finish(prediction, "succeeded")
    elif prediction.face_swap:
        await _finish_face_swap(prediction)
    elif prediction.contract is not None:
        await _finish_contract(prediction)
    elif VIDEO_IMAGE_INPUT in prediction.input:
        await _finish_clip(prediction)
    else:
        _finish(prediction, "succeeded", output=_outputs(prediction))


async def _create(request: Request, *, model: str | None) -> Response:
    if guard := await _api_guard(request):
        return guard
    try:
        body = request.json()
    except ValueError:
        return _problem(400, "Bad Request", "The request body is not valid JSON.")
    if not isinstance(body, dict):
        return _invalid([_field_error("invalid_type", "", "Invalid type. Expected: object")])
    allowed = {"input", "webhook", "webhook_events_filter", "stream", *(["version"] if model is None else [])}
    errors = [
        _field_error("additional_property_not_allowed", "", f"Additional property {key} is not allowed")
        for key in body if key not in allowed
    ]
    version = "hidden"
    if model is None:
        if "version" not in body:
            errors.append(_field_error("required", "", "version is required"))
        elif not (match := VERSION.match(str(body["version"]))):
            return _problem(422, "Invalid version or not permitted", "The specified version does not exist "
                            "(or perhaps you don't have permission to use it?)")
        else:
            version = match["id"] or match["bare"] or "hidden"
            model = match["model"] or contracts.REPLICATE_VERSIONS.get(version, "simulated/versioned-model")
    if (contract := contracts.REPLICATE.get(model)) is not None:
        errors += [_field_error("invalid", f"input.{name}", message)
                   for name, message in contracts.check(contract, body.get("input"))]
    else:
        errors += _check_input(body.get("input"))
    events = body.get("webhook_events_filter", ["output", "completed"])
    if not isinstance(events, list) or any(event not in EVENTS for event in events):
        description = f"items must be one of: {', '.join(EVENTS)}"
        errors.append(_field_error("enum", "webhook_events_filter", description))
    if "webhook" in body and not isinstance(body["webhook"], str):
        errors.append(_field_error("invalid_type", "webhook", "Invalid type. Expected: string"))
    if errors:
        return _invalid(errors)
    inputs, current = body["input"], knob_store.knobs(VENDOR)
    prediction = Prediction(
        id=secrets.token_hex(13), model=model, version=version, input=inputs, base_url=request.base_url,
        variant=current.output_variant, job_seconds=current.job_seconds,
        blocked=is_blocked(VENDOR, inputs.get("prompt", "")), fails=knob_store.roll(current.fail_job_rate),
        webhook=body.get("webhook"), events=tuple(events), seed=inputs.get("seed", random.randrange(2**32)),
        face_swap=contract is None and any(name in inputs for name in FACE_SWAP_INPUTS), contract=contract,
    )
    if contract is not None:
        contracts.note(VENDOR, model, inputs)
    _predictions[prediction.id] = prediction
    knob_store.count(f"{VENDOR}:created")
    spawn(_run(prediction))
    if common.answer_lost(VENDOR):
        return common.LOST_ANSWER
    if current.webhook_before_answer and prediction.webhook:
        answer = prediction.as_json()  # as when made, delayed on its way back past the webhook
        await prediction.notified.wait()
        knob_store.log(f"{VENDOR}:create_answered")
        return json_response(answer, 201)
    headers = {}
    if wait := _prefer_wait(request.headers.get("prefer", "")):
        try:
            await asyncio.wait_for(prediction.done.wait(), timeout=wait)
        except TimeoutError:
            pass
        headers["preference-applied"] = f"wait={wait}"
    return json_response(prediction.as_json(), 201, headers)


def register(router: Router) -> None:
    @router.route("POST", rf"{PREFIX}/v1/models/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)/predictions")
    async def create_for_model(request: Request) -> Response:
        return await _create(request, model=f"{request.params['owner']}/{request.params['name']}")

    @router.route("POST", rf"{PREFIX}/v1/predictions")
    async def create_for_version(request: Request) -> Response:
        return await _create(request, model=None)

    @router.route("GET", rf"{PREFIX}/v1/predictions/(?P<id>\w+)")
    async def get(request: Request) -> Response:
        if guard := await _api_guard(request):
            return guard
        if (prediction := _predictions.get(request.params["id"])) is None:
            return _problem(404, "Not found", "The requested resource could not be found.")
        return json_response(prediction.as_json())

    @router.route("POST", rf"{PREFIX}/v1/predictions/(?P<id>\w+)/cancel")
    async def cancel(request: Request) -> Response:
        if guard := await _api_guard(request):
            return guard
        if (prediction := _predictions.get(request.params["id"])) is None:
            return _problem(404, "Not found", "The requested resource could not be found.")
        if prediction.status not in TERMINAL:
            knob_store.count(f"{VENDOR}:canceled")
            _finish(prediction, "canceled")
        return json_response(prediction.as_json())

    @router.route("GET", rf"{PREFIX}/v1/account")
    async def account(request: Request) -> Response:
        """The account the token belongs to (Replicate's `GET /v1/account`)."""
        if guard := await _api_guard(request):
            return guard
        return json_response({"type": "user", "username": "simulated", "name": "Simulated account",
                              "github_url": None})

    @router.route("GET", rf"{PREFIX}/v1/webhooks/default/secret")
    async def webhook_secret(request: Request) -> Response:
        if guard := await _api_guard(request):
            return guard
        return json_response({"key": standins.REPLICATE_WEBHOOK_SECRET})

    @router.route("GET", rf"{PREFIX}/v1/files/(?P<id>\w+)-(?P<index>\d+)/download")
    async def api_file(request: Request) -> Response:
        if guard := await _api_guard(request):
            return guard
        prediction = _predictions.get(request.params["id"])
        content = prediction.files.get(int(request.params["index"])) if prediction else None
        if content is None:
            return _problem(404, "Not found", "The requested resource could not be found.")
        if knob_store.knobs(VENDOR).files_url:
            return Response(302, b"", {"location": _file_url(prediction, int(request.params["index"]))})
        return Response(200, content, {"content-type": "image/png", "content-length": str(len(content))})

    @router.route("GET", rf"{PREFIX}/files/(?P<id>\w+)/(?P<index>\d+)\.(?P<ext>png|mp4)")
    async def output_file(request: Request) -> Response:
        prediction = _predictions.get(request.params["id"])
        content = prediction.files.get(int(request.params["index"])) if prediction else None
        if content is None:
            return Response(404, b"Not found", {"content-type": "text/plain"})
        content_type = {"png": "image/png", "mp4": "video/mp4"}[request.params["ext"]]
        await file_delay(VENDOR)
        return Response(200, content, {"content-type": content_type, "content-length": str(len(content))})
