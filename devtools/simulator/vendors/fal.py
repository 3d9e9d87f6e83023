"""Simulated fal.ai queue API (mounted under /fal; point FAL_QUEUE_URL there).

Routes, as fal's queue host serves them:

- `POST /fal/{owner}/{app}[/{path}][?fal_webhook=URL]` — body: the model's input. Answers 200
  `{request_id, response_url, status_url, cancel_url, status: IN_QUEUE, queue_position}`.
- `GET /fal/{owner}/{app}/requests/{id}/status[?logs=1]` — 202 `IN_QUEUE` (with
  `queue_position`) or `IN_PROGRESS` (with `logs`, a tqdm bar per step), 200 `COMPLETED`.
- `GET /fal/{owner}/{app}/requests/{id}` — the result, or the job's stored error.
- `PUT /fal/{owner}/{app}/requests/{id}/cancel` — 202 `CANCELLATION_REQUESTED`, 400
  `ALREADY_COMPLETED`, 404 `NOT_FOUND`.
  Status, result and cancel take the owner/app only, never the model's subpath (404 otherwise),
  and namespaced ids keep their namespace (`workflows/{owner}/{app}`).
- `GET /fal/files/{id}/{n}.png` — output files (fal's CDN), drawn by `common.picture()`.
- `GET /fal/.well-known/jwks.json` — the ED25519 webhook key, generated when the simulator starts.
- `POST /fal/_sign` — TEST ONLY, not fal's: `{"request_id", "body", "timestamp"?}` → `{"headers"}`,
  webhook signature headers for that body, so tests can build valid and stale deliveries.

API calls pass `inject_faults` first, then need `Authorization: Key <FAL_KEY>` (401 otherwise).
Bad input answers 422 `{"detail": [{loc, msg, type}]}`. Answers carry `x-fal-request-id`.

A job is `IN_QUEUE` for the first 40 % of the knob `job_seconds` (queue_position 2, 1, 0),
`IN_PROGRESS` until `job_seconds`, then `COMPLETED` — whatever the outcome, as fal does:
- a prompt holding a `blocked_words` word: the result answers 422 with a
  `content_policy_violation` detail;
- a `fail_job_rate` roll: the status carries `error`/`error_type: runner_disconnected`, and the
  result answers 503 with that `error_type` (and `X-Fal-Error-Type`);
- cancelled before the end: `COMPLETED` with `error_type: request_cancelled` (an assumption: fal
  does not document it), and the result answers 400.
Image sizes follow `image_size`: a preset name or `{width, height}` (default `landscape_4_3`), or
`aspect_ratio` for the models that take a ratio name.

`fal-ai/face-swap` takes `base_image_url` and `swap_image_url` (base64 data URIs here; no prompt)
and answers `{image: {url, width, height, content_type}}`: a real swap made by Darkroom's
classical face swap. A photo without a face makes the result answer 422 `face_not_detected`.

Models that take photos or make clips follow their published schemas (`contracts.py`): an
upscaler, a cut-out or a face swap answers one `image`, a video model one `video: {url,
content_type, file_name, file_size}` — a real MP4, served at `/fal/files/{id}/0.mp4`.

Knob `output_variant` (read at submit):
- `default`: 200 `{images: [{url, width, height, content_type}], seed, has_nsfw_concepts: [false…],
  timings, prompt}`
- `nsfw_flag`: the same with `has_nsfw_concepts: [true…]`
- `completed_error`: a plain `COMPLETED`, then the result answers 504
  `{"detail": "Request timed out", "error_type": "request_timeout"}`
- `big_seed`: `seed` above 2**64
- `result_500`: the job succeeds and its status says a plain `COMPLETED`, but the result endpoint
  answers 500 `{"detail": "Internal Server Error"}` (no error type) on every fetch — fal's result
  host failing, not the job; a webhook still carries the real payload

Knob `missing_outputs`: a successful result lists that many fewer images than `num_images` (at
least one). Knob `file_delay_ms`: see `common.file_delay`.

Webhooks: with `fal_webhook`, at the end fal's body `{request_id, gateway_request_id, status:
OK|ERROR, payload, error?}` is POSTed there, signed (`X-Fal-Webhook-Request-Id`, `-User-Id`,
`-Timestamp`, `-Signature`: hex ED25519 over "request id\\nuser id\\ntimestamp\\nsha256(body)");
copies from `webhook_copies` resend the same body, freshly signed; `webhook_drop_rate` drops some.
No webhook for a cancelled job; `webhook_delay` holds each.

Money: every request queued counts `fal:created`, every cancel that stops one `fal:canceled`. Knob
`lost_answers`: the next N submits queue their request, then answer nothing readable (as a
connection dropped after the request went out).
"""

import asyncio
import base64
import hashlib
import io
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image

from devtools import standins

from .. import common, contracts, face_swap
from .. import knobs as knob_store
from ..common import deliver_webhook, file_delay, inject_faults, is_blocked, picture, spawn
from ..http import Request, Response, Router, json_response

VENDOR = "fal"
PREFIX = "/fal"
QUEUE_SHARE = 0.4  # of job_seconds spent IN_QUEUE
QUEUE_START = 3  # positions counted down: 2, 1, 0
STEPS = 10
SIZE_PRESETS = {
    "square_hd": (1024, 1024), "square": (512, 512), "landscape_4_3": (1024, 768),
    "portrait_4_3": (768, 1024), "landscape_16_9": (1024, 576), "portrait_16_9": (576, 1024),
}
NAMESPACES = {"workflows", "comfy"}
USER_ID = "simulated-user"
SIGNING_KEY = Ed25519PrivateKey.generate()
PUBLIC_KEY = SIGNING_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
KEY_ID = hashlib.sha256(PUBLIC_KEY).hexdigest()[:16]
CONTENT_POLICY_DETAIL = {
    "loc": ["body", "prompt"], "type": "content_policy_violation", "input": None,
    "msg": "The content could not be processed because it contained material flagged by a content checker.",
}
RUNNER_DISCONNECTED = {"detail": "Runner disconnected", "error_type": "runner_disconnected"}
REQUEST_TIMEOUT = {"detail": "Request timed out", "error_type": "request_timeout"}
# fal-ai/face-swap: the photo to change and the face to put on it.
FACE_SWAP_APP = "fal-ai/face-swap"
FACE_SWAP_INPUTS = ("base_image_url", "swap_image_url")


@dataclass
class Job:
    request_id: str
    app: str
    input: dict
    width: int
    height: int
    seed: int
    base_url: str
    job_seconds: float
    outcome: str  # ok | blocked | failed | completed_error
    nsfw: bool
    webhook: str | None
    submitted_at: float = field(default_factory=time.monotonic)
    canceled: bool = False
    swapped: bytes | None = None  # a face swap's result
    swap_error: str = ""
    result_fault: bool = False  # output_variant `result_500`
    contract: contracts.Contract | None = None  # a photo-taking or clip-making model (contracts.py)
    made: tuple | None = None  # its output: (bytes, content type, width, height)

    @property
    def url(self) -> str:
        return f"{self.base_url}{PREFIX}/{self.app}/requests/{self.request_id}"

    def urls(self) -> dict:
        return {"request_id": self.request_id, "response_url": self.url, "status_url": f"{self.url}/status",
                "cancel_url": f"{self.url}/cancel"}

    def elapsed(self) -> float:
        return time.monotonic() - self.submitted_at

    @property
    def inference_seconds(self) -> float:
        return round(self.job_seconds * (1 - QUEUE_SHARE), 3)

    def completed(self) -> bool:
        return self.canceled or self.elapsed() >= self.job_seconds

    def result(self) -> tuple[int, dict]:
        """The result fetch's HTTP status and body."""
        if self.canceled:
            return 400, {"detail": "Request was cancelled", "error_type": "request_cancelled"}
        if self.outcome == "blocked":
            return 422, {"detail": [{**CONTENT_POLICY_DETAIL, "input": self.input.get("prompt")}]}
        if self.outcome == "failed":
            return 503, RUNNER_DISCONNECTED
        if self.outcome == "completed_error":
            return 504, REQUEST_TIMEOUT
        if self.app == FACE_SWAP_APP:
            return self._face_swap_result()
        if self.contract is not None:
            return self._contract_result()
        count = knob_store.outputs_count(VENDOR, self.input.get("num_images", 1))
        images = [
            {"url": f"{self.base_url}{PREFIX}/files/{self.request_id}/{index}.png", "width": self.width,
             "height": self.height, "content_type": "image/png"}
            for index in range(count)
        ]
        return 200, {"images": images, "timings": {"inference": self.inference_seconds}, "seed": self.seed,
                     "has_nsfw_concepts": [self.nsfw] * count, "prompt": self.input["prompt"]}


    def _contract_result(self) -> tuple[int, dict]:
        content, content_type, width, height = self.made
        extension = "mp4" if content_type == "video/mp4" else "png"
        file = {"url": f"{self.base_url}{PREFIX}/files/{self.request_id}/0.{extension}",
                "content_type": content_type, "file_name": f"output.{extension}", "file_size": len(content)}
        if self.contract.output == "video":
            return 200, {"video": file, "seed": self.seed}
        file |= {"width": width, "height": height}
        if self.contract.output == "image":
            return 200, {"image": file, "timings": {"inference": self.inference_seconds}}
        return 200, {"images": [file], "seed": self.seed, "has_nsfw_concepts": [self.nsfw],
                     "timings": {"inference": self.inference_seconds}, "prompt": self.input.get("prompt", "")}

    def _face_swap_result(self) -> tuple[int, dict]:
        if self.swapped is None:
            return 422, {"detail": [{"loc": ["body", "swap_image_url"], "msg": self.swap_error,
                                     "type": "face_not_detected"}]}
        image = {"url": f"{self.base_url}{PREFIX}/files/{self.request_id}/0.png", "width": self.width,
                 "height": self.height, "content_type": "image/png"}
        return 200, {"image": image}


_jobs: dict[str, Job] = {}


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


def _app_of(model: str) -> str:
    parts = model.split("/")
    return "/".join(parts[: 3 if parts[0] in NAMESPACES else 2])


def _respond(data, status: int = 200, headers: dict | None = None) -> Response:
    return json_response(data, status, {"x-fal-request-id": str(uuid.uuid4()), **(headers or {})})


def _error(data: dict, status: int) -> Response:
    error_type = data.get("error_type")
    return _respond(data, status, {"x-fal-error-type": error_type} if error_type else None)


def _invalid(loc: str, msg: str, kind: str) -> Response:
    return _respond({"detail": [{"loc": ["body", loc], "msg": msg, "type": kind}]}, 422)


async def _guard(request: Request) -> Response | None:
    """Faults first, then the API key, as fal's gateway would."""
    if fault := await inject_faults(VENDOR, request):
        return fault
    if request.headers.get("authorization") != f"Key {standins.FAL_KEY}":
        return _respond({"detail": "No user found for Key ID and Secret"}, 401)
    return None


ASPECT_RATIO_SIZES = {
    "1:1": (1024, 1024), "16:9": (1344, 768), "9:16": (768, 1344), "4:3": (1152, 896), "3:4": (896, 1152),
    "3:2": (1216, 832), "2:3": (832, 1216),
}


def _size(value) -> tuple[int, int] | None:
    if value is None:
        return SIZE_PRESETS["landscape_4_3"]
    if isinstance(value, str):
        return SIZE_PRESETS.get(value)
    if isinstance(value, dict):
        width, height = value.get("width"), value.get("height")
        if all(isinstance(side, int) and 64 <= side <= 4096 for side in (width, height)):
            return width, height
    return None


def sign(request_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    message = "\n".join([request_id, USER_ID, stamp, hashlib.sha256(body).hexdigest()]).encode()
    return {
        "content-type": "application/json", "x-fal-webhook-request-id": request_id,
        "x-fal-webhook-user-id": USER_ID, "x-fal-webhook-timestamp": stamp,
        "x-fal-webhook-signature": SIGNING_KEY.sign(message).hex(),
    }


async def _deliver(job: Job) -> None:
    await asyncio.sleep(job.job_seconds)
    if job.canceled:
        return
    status, result = job.result()
    body = {"request_id": job.request_id, "gateway_request_id": job.request_id}
    if status == 200:
        body |= {"status": "OK", "payload": result}
    else:
        body |= {"status": "ERROR", "error": f"Invalid status code: {status}", "payload": result}
    raw = json.dumps(body).encode()
    await deliver_webhook(VENDOR, job.webhook, raw, lambda copy: sign(job.request_id, raw))


def _job(request: Request) -> Job | None:
    job = _jobs.get(request.params["request_id"])
    return job if job is not None and job.app == request.params["app"] else None


async def _submit_face_swap(request: Request, data) -> Response:
    """fal-ai/face-swap: both images required (data URIs here); the swap is made at submit."""
    if not isinstance(data, dict):
        return _invalid("base_image_url", "field required", "value_error.missing")
    try:
        target, face = (face_swap.decode(data.get(name), name) for name in FACE_SWAP_INPUTS)
    except face_swap.FaceSwapInputError as error:
        return _invalid(str(error).split()[0], str(error), "value_error.url")
    png, error = await asyncio.to_thread(face_swap.swap, target, face)
    width, height = _image_size(png) if png else (0, 0)
    knobs = knob_store.knobs(VENDOR)
    outcome = "failed" if knob_store.roll(knobs.fail_job_rate) else "ok"
    job = Job(
        request_id=str(uuid.uuid4()), app=FACE_SWAP_APP, input=data, width=width, height=height, seed=0,
        base_url=request.base_url, job_seconds=knobs.job_seconds, outcome=outcome, nsfw=False,
        webhook=request.query.get("fal_webhook"), swapped=png, swap_error=error,
    )
    _jobs[job.request_id] = job
    if job.webhook:
        spawn(_deliver(job))
    return _respond({"status": "IN_QUEUE", "queue_position": QUEUE_START - 1, **job.urls()})


async def _submit_contract(request: Request, data, contract: contracts.Contract) -> Response:
    """A model from contracts.py: its inputs checked against its schema, its output made at submit."""
    model = request.params["model"]
    if errors := contracts.check(contract, data):
        name, message = errors[0]
        return _invalid(name, message, "value_error")
    contracts.note(VENDOR, model, data)
    knobs = knob_store.knobs(VENDOR)
    if is_blocked(VENDOR, data.get("prompt", "")):
        outcome = "blocked"
    elif knob_store.roll(knobs.fail_job_rate):
        outcome = "failed"
    else:
        outcome = "ok"
    seed = data["seed"] if isinstance(data.get("seed"), int) else random.getrandbits(32)
    made = await asyncio.to_thread(contracts.make, contract, data, seed)
    job = Job(
        request_id=str(uuid.uuid4()), app=_app_of(model), input=data, width=made[2], height=made[3], seed=seed,
        base_url=request.base_url, job_seconds=knobs.job_seconds, outcome=outcome,
        nsfw=knobs.output_variant == "nsfw_flag", webhook=request.query.get("fal_webhook"), contract=contract,
        made=made,
    )
    _jobs[job.request_id] = job
    knob_store.count(f"{VENDOR}:created")
    if job.webhook:
        spawn(_deliver(job))
    return _respond({"status": "IN_QUEUE", "queue_position": QUEUE_START - 1, **job.urls()})


def _image_size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        return image.size


def register(router: Router) -> None:
    @router.route("GET", rf"{PREFIX}/\.well-known/jwks\.json")
    async def jwks(request: Request):
        knob_store.count(f"{VENDOR}:jwks")
        x = base64.urlsafe_b64encode(PUBLIC_KEY).rstrip(b"=").decode()
        return json_response({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": KEY_ID}]})

    @router.route("POST", rf"{PREFIX}/_sign")
    async def sign_for_tests(request: Request):
        data = request.json()
        headers = sign(data["request_id"], data["body"].encode(), data.get("timestamp"))
        return json_response({"headers": headers})

    @router.route("GET", rf"{PREFIX}/files/(?P<request_id>[^/]+)/(?P<index>\d+)\.(?P<ext>png|mp4)")
    async def file(request: Request):
        job = _jobs.get(request.params["request_id"])
        index = int(request.params["index"])
        if job is None or not job.completed() or index >= job.input.get("num_images", 1):
            return json_response({"detail": "Not found"}, 404)
        await file_delay(VENDOR)
        if job.made is not None:
            return Response(200, job.made[0], {"content-type": job.made[1]})
        if job.app == FACE_SWAP_APP:
            if job.swapped is None:
                return json_response({"detail": "Not found"}, 404)
            return Response(200, job.swapped, {"content-type": "image/png"})
        content = picture(job.input["prompt"], job.seed % 2**32 + index, job.width, job.height)
        return Response(200, content, {"content-type": "image/png"})

    @router.route("GET", rf"{PREFIX}/(?P<app>.+?)/requests/(?P<request_id>[^/]+)/status")
    async def status(request: Request):
        if refusal := await _guard(request):
            return refusal
        if (job := _job(request)) is None:
            return _respond({"detail": "Request not found"}, 404)
        with_logs = request.query.get("logs") in ("1", "true")
        queue_seconds = job.job_seconds * QUEUE_SHARE
        elapsed = job.elapsed()
        if not job.completed() and elapsed < queue_seconds:
            position = min(QUEUE_START - 1, int((queue_seconds - elapsed) / queue_seconds * QUEUE_START))
            return _respond({"status": "IN_QUEUE", "queue_position": position, **job.urls()}, 202)
        if not job.completed():
            done = int((elapsed - queue_seconds) / (job.job_seconds - queue_seconds) * STEPS)
            logs = [
                {"message": f"{step * 100 // STEPS:3d}%|{'#' * step:<{STEPS}}| {step}/{STEPS}",
                 "level": "STDERR", "source": "USER", "timestamp": _iso(time.time())}
                for step in range(done + 1)
            ]
            return _respond({"status": "IN_PROGRESS", "logs": logs if with_logs else None, **job.urls()}, 202)
        body = {"status": "COMPLETED", "logs": [] if with_logs else None,
                "metrics": {"inference_time": job.inference_seconds}, **job.urls()}
        if job.canceled:
            body |= {"error": "Request was cancelled", "error_type": "request_cancelled"}
        elif job.outcome == "failed":
            body |= {"error": RUNNER_DISCONNECTED["detail"], "error_type": RUNNER_DISCONNECTED["error_type"]}
        return _respond(body, 200)

    @router.route("GET", rf"{PREFIX}/(?P<app>.+?)/requests/(?P<request_id>[^/]+)")
    async def result(request: Request):
        if refusal := await _guard(request):
            return refusal
        if (job := _job(request)) is None:
            return _respond({"detail": "Request not found"}, 404)
        if not job.completed():
            return _respond({"detail": "Request is still in progress"}, 400)
        if job.result_fault and not job.canceled:
            return _respond({"detail": "Internal Server Error"}, 500)
        status_code, body = job.result()
        return _error(body, status_code) if status_code != 200 else _respond(body)

    @router.route("PUT", rf"{PREFIX}/(?P<app>.+?)/requests/(?P<request_id>[^/]+)/cancel")
    async def cancel(request: Request):
        if refusal := await _guard(request):
            return refusal
        if (job := _job(request)) is None:
            return _respond({"status": "NOT_FOUND"}, 404)
        if job.completed():
            return _respond({"status": "ALREADY_COMPLETED"}, 400)
        if not job.canceled:
            knob_store.count(f"{VENDOR}:canceled")
        job.canceled = True
        return _respond({"status": "CANCELLATION_REQUESTED"}, 202)

    @router.route("POST", rf"{PREFIX}/(?P<model>[^/]+/[^/].*)")
    async def submit(request: Request):
        if refusal := await _guard(request):
            return refusal
        try:
            data = request.json()
        except ValueError:
            return _respond({"detail": "Invalid JSON body"}, 400)
        if _app_of(request.params["model"]) == FACE_SWAP_APP:
            return await _submit_face_swap(request, data)
        if (contract := contracts.FAL.get(request.params["model"])) is not None:
            return await _submit_contract(request, data, contract)
        if not isinstance(data, dict) or not isinstance(data.get("prompt"), str) or not data["prompt"]:
            return _invalid("prompt", "field required", "value_error.missing")
        if not isinstance(data.get("num_images", 1), int) or not 1 <= data.get("num_images", 1) <= 4:
            return _invalid("num_images", "ensure this value is between 1 and 4", "value_error.number")
        if "aspect_ratio" in data:
            # Models such as Imagen and Nano Banana take a ratio name; they answer at about a megapixel.
            if (size := ASPECT_RATIO_SIZES.get(data["aspect_ratio"])) is None:
                return _invalid("aspect_ratio", "unexpected value", "value_error")
        elif (size := _size(data.get("image_size"))) is None:
            return _invalid("image_size", "invalid image size", "value_error")
        knobs = knob_store.knobs(VENDOR)
        if is_blocked(VENDOR, data["prompt"]):
            outcome = "blocked"
        elif knob_store.roll(knobs.fail_job_rate):
            outcome = "failed"
        elif knobs.output_variant == "completed_error":
            outcome = "completed_error"
        else:
            outcome = "ok"
        seed = data["seed"] if isinstance(data.get("seed"), int) else random.getrandbits(64)
        if knobs.output_variant == "big_seed":
            seed = 2**64 + seed % 2**32
        job = Job(
            request_id=str(uuid.uuid4()), app=_app_of(request.params["model"]),
            input={"num_images": 1, **data}, width=size[0], height=size[1], seed=seed,
            base_url=request.base_url, job_seconds=knobs.job_seconds, outcome=outcome,
            nsfw=knobs.output_variant == "nsfw_flag", webhook=request.query.get("fal_webhook"),
            result_fault=knobs.output_variant == "result_500",
        )
        _jobs[job.request_id] = job
        knob_store.count(f"{VENDOR}:created")
        if job.webhook:
            spawn(_deliver(job))
        if common.answer_lost(VENDOR):
            return common.LOST_ANSWER
        return _respond({"status": "IN_QUEUE", "queue_position": QUEUE_START - 1, **job.urls()})
