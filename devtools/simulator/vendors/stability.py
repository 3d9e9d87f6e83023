"""Simulated Stability AI v2beta Stable Image API, mounted under /stability.

- `POST /stability/v2beta/stable-image/generate/{core,ultra,sd3}` — multipart/form-data only (anything
  else is a 400), fields `prompt` (required), `negative_prompt`, `aspect_ratio` (16:9 1:1 21:9 2:3 3:2
  4:5 5:4 9:16 9:21, default 1:1), `seed` (0–4294967294, 0 = random), `output_format` (png, jpeg,
  webp), and on sd3 `model` (sd3.5-large, the default, sd3.5-large-turbo, sd3.5-medium, sd3.5-flash;
  another is a 400). One image per call, after the `job_seconds` knob.
- `Accept: image/*` (or none) → the raw image with headers `finish-reason`, `seed`, `x-request-id`;
  `Accept: application/json` → `{image: <base64>, finish_reason, seed}` with content type
  `application/json; type=image/<format>`; any other Accept → 400.

Errors are `{id, name, errors: [..]}`: 401 `unauthorized` without a Bearer key, 400 `bad_request`,
429 `rate_limit_exceeded` (with Retry-After) and 5xx `internal_error` from the fault knobs.
Safety: a prompt with a blocked word → 403 `content_moderation`.

`output_variant` knob:
- "default": `finish_reason` SUCCESS.
- "content_filtered": HTTP 200 with `finish_reason` CONTENT_FILTERED and a blurred image.
(No variant forces JSON whatever the Accept header: the real API honours Accept.)

Money: every call past its checks is billed and counts `stability:created`. Knob `lost_answers`: the
next N such calls make their image, then answer nothing readable (as a connection dropped after the
request went out). `job_seconds` longer than a generation's deadline makes a call slow past it.
"""

import asyncio
import base64
import io
import random
import uuid

from PIL import Image, ImageFilter

from devtools import standins

from .. import knobs as knob_store
from ..common import LOST_ANSWER, answer_lost, inject_faults, is_blocked, picture
from ..http import Request, Response, Router, json_response
from .openai import multipart_form

VENDOR = "stability"
# The pixel size Stability renders for each aspect ratio (about one megapixel).
SIZES = {
    "16:9": (1344, 768), "1:1": (1024, 1024), "21:9": (1536, 640), "2:3": (832, 1216), "3:2": (1216, 832),
    "4:5": (896, 1088), "5:4": (1088, 896), "9:16": (768, 1344), "9:21": (640, 1536),
}
FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
MAX_SEED = 4_294_967_294


def _error(status: int, name: str, *errors: str, headers: dict | None = None) -> Response:
    return json_response({"id": uuid.uuid4().hex, "name": name, "errors": list(errors)}, status, headers)


async def _faults(request: Request) -> Response | None:
    response = await inject_faults(VENDOR, request)
    if response is None:
        return None
    if response.status == 429:
        retry_after = {k: v for k, v in response.headers.items() if k == "retry-after"}
        return _error(429, "rate_limit_exceeded", "You have exceeded the rate limit of 150 requests within a "
                      "10 second period.", headers=retry_after)
    if response.status < 500:
        return _error(response.status, "bad_request", "The request could not be processed.")
    return _error(response.status, "internal_error",
                  "An unexpected server error has occurred, please try again later.")


def _checked(fields: dict) -> tuple[str, int, str]:
    """(aspect ratio, seed, output format), or a message saying what is wrong."""
    if not fields.get("prompt", "").strip():
        raise ValueError("prompt: cannot be empty")
    aspect_ratio = fields.get("aspect_ratio") or "1:1"
    if aspect_ratio not in SIZES:
        raise ValueError(f"aspect_ratio: must be one of {', '.join(SIZES)}")
    seed_text = fields.get("seed") or "0"
    if not seed_text.isdigit() or int(seed_text) > MAX_SEED:
        raise ValueError(f"seed: must be a number from 0 to {MAX_SEED}")
    output_format = fields.get("output_format") or "png"
    if output_format not in FORMATS:
        raise ValueError(f"output_format: must be one of {', '.join(FORMATS)}")
    return aspect_ratio, int(seed_text) or random.randint(1, MAX_SEED), output_format


def _image(prompt: str, seed: int, size: tuple[int, int], output_format: str, *, filtered: bool) -> bytes:
    image = Image.open(io.BytesIO(picture(prompt, seed, *size))).convert("RGB")
    if filtered:
        image = image.filter(ImageFilter.GaussianBlur(radius=32))
    out = io.BytesIO()
    image.save(out, format=FORMATS[output_format])
    return out.getvalue()


# The sd3 endpoint serves the SD 3.5 family, named by the `model` field (default sd3.5-large).
SD3_MODELS = ("sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash")


def endpoint_model(endpoint: str, fields: dict) -> str | None:
    """The model an endpoint runs; None for an sd3 `model` it does not serve. Noted in the state log."""
    model = fields.get("model") or "sd3.5-large" if endpoint == "sd3" else endpoint
    if endpoint == "sd3" and model not in SD3_MODELS:
        return None
    knob_store.log(f"{VENDOR}:input {model}")
    return model


def register(router: Router) -> None:
    @router.route("GET", "/stability/v1/user/account")
    async def account(request: Request) -> Response:
        """The key's account (`GET /v1/user/account`); a key other than the stand-in is refused."""
        if response := await _faults(request):
            return response
        if request.headers.get("authorization") != f"Bearer {standins.STABILITY_API_KEY}":
            return _error(401, "unauthorized", "authorization: missing or invalid")
        return json_response({"id": "user-simulated", "email": "simulated@example.com", "organizations": []})

    @router.route("POST", "/stability/v2beta/stable-image/generate/(?P<endpoint>core|ultra|sd3)")
    async def generate(request: Request) -> Response:
        if response := await _faults(request):
            return response
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not key:
            return _error(401, "unauthorized", "authorization: missing or invalid")
        accept = request.headers.get("accept", "image/*")
        if accept not in ("image/*", "application/json"):
            return _error(400, "bad_request", "accept: must be image/* or application/json")
        form = multipart_form(request)
        if form is None:
            return _error(400, "bad_request", "content-type: must be multipart/form-data")
        fields, _files = form
        try:
            aspect_ratio, seed, output_format = _checked(fields)
        except ValueError as invalid:
            return _error(400, "bad_request", str(invalid))
        if endpoint_model(request.params["endpoint"], fields) is None:
            return _error(400, "bad_request", f"model: must be one of {', '.join(SD3_MODELS)}")
        if is_blocked(VENDOR, fields["prompt"]):
            knob_store.count(f"{VENDOR}:blocked")
            return _error(403, "content_moderation",
                          "Your request was flagged by our content moderation system, as a result your "
                          "request was denied and you were not charged.")
        knob_store.count(f"{VENDOR}:created")  # billed from here on, whatever happens to the answer
        await asyncio.sleep(knob_store.knobs(VENDOR).job_seconds)
        if answer_lost(VENDOR):
            return LOST_ANSWER
        filtered = knob_store.knobs(VENDOR).output_variant == "content_filtered"
        finish_reason = "CONTENT_FILTERED" if filtered else "SUCCESS"
        image = _image(fields["prompt"], seed, SIZES[aspect_ratio], output_format, filtered=filtered)
        request_id = uuid.uuid4().hex
        if accept == "application/json":
            return json_response(
                {"image": base64.b64encode(image).decode(), "finish_reason": finish_reason, "seed": seed},
                headers={"content-type": f"application/json; type=image/{output_format}",
                         "x-request-id": request_id},
            )
        return Response(200, image, {
            "content-type": f"image/{output_format}", "finish-reason": finish_reason, "seed": str(seed),
            "x-request-id": request_id,
        })
