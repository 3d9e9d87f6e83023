"""Simulated OpenAI Images API, mounted under /openai (the API itself under /openai/v1).

- `POST /openai/v1/images/generations` — JSON `{model, prompt, n, size, quality, response_format,
  stream, partial_images}` → `ImagesResponse`. With `stream: true` (GPT image models only) the answer
  is `text/event-stream`: per image, `image_generation.partial_image` events spread over the
  `job_seconds` knob, then `image_generation.completed`.
- `POST /openai/v1/images/edits` — multipart: `image[]` (or `image`) files, optional `mask` (the same
  size as the first image), `prompt`, `n`, `size`. The result keeps the first image where the mask is
  opaque and paints where it is transparent (without a mask: half and half).
- `GET /openai/files/<id>.png` — images handed out as `data[].url`.

Checked like the real API, with `{error: {message, type, param, code}}` bodies: a Bearer key (401),
the model, `size` per model, `n` (1–10; dall-e-3: 1), `response_format` and `stream` only for the
models that take them (400 `invalid_request_error`).

Safety: a prompt with a blocked word → 400 `moderation_blocked` (`image_generation_user_error`) for
GPT image models, `content_policy_violation` (`invalid_request_error`) for DALL·E.

Faults (`inject_faults`): rate limits (429) carry `retry-after-ms` and a whole-second `retry-after`;
an injected error whose `error_status` is 429 is a spent quota (`insufficient_quota`, with
`x-should-retry: false`, as retrying cannot help); other injected errors are `server_error`.

`output_variant` knob:
- "default" / "b64": GPT image models answer `data[].b64_json`; DALL·E models `data[].url` unless
  asked for `response_format: b64_json`.
- "url": `data[].url` for every model, pointing at this simulator (as DALL·E does).
- "moderated_stream": a stream sends its partial images, then an `error` event with
  `moderation_blocked` (the output-stage safety check).

Money: every generation call past its checks is billed and counts `openai:created`. Knob
`lost_answers`: the next N such calls make their images (after `job_seconds`), then answer nothing
readable (as a connection dropped after the request went out). `job_seconds` longer than a
generation's deadline makes a call slow past it.
"""

import asyncio
import base64
import email.parser
import email.policy
import io
import json
import math
import time
import uuid
import zlib
from collections import OrderedDict

from PIL import Image, UnidentifiedImageError

from apps.providers.adapters.offline import renderer
from devtools import standins

from .. import knobs as knob_store
from ..common import LOST_ANSWER, answer_lost, inject_faults, is_blocked, picture
from ..http import Request, Response, Router, json_response

VENDOR = "openai"
GPT_IMAGE_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
SIZES = {
    "gpt-image-1": GPT_IMAGE_SIZES,
    "gpt-image-1-mini": GPT_IMAGE_SIZES,
    "gpt-image-1.5": GPT_IMAGE_SIZES,
    "chatgpt-image-latest": GPT_IMAGE_SIZES,
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
}
MAX_FILES = 64  # images kept for `data[].url` downloads


class _Invalid(Exception):
    def __init__(self, message: str, param: str | None = None, code: str | None = "invalid_value"):
        super().__init__(message)
        self.param, self.code = param, code


_files: OrderedDict[str, bytes] = OrderedDict()


def _error(status: int, message: str, type_: str, *, param=None, code=None, headers=None) -> Response:
    error = {"message": message, "type": type_, "param": param, "code": code}
    return json_response({"error": error}, status, headers)


async def _faults(request: Request) -> Response | None:
    response = await inject_faults(VENDOR, request)
    if response is None:
        return None
    if response.status == 429 and "retry-after" in response.headers:
        seconds = float(response.headers["retry-after"])
        hints = {"retry-after": str(math.ceil(seconds)), "retry-after-ms": str(round(seconds * 1000))}
        return _error(429, "Rate limit reached for images per minute. Please try again later.", "requests",
                      code="rate_limit_exceeded", headers=hints)
    if response.status == 429:
        return _error(429, "You exceeded your current quota, please check your plan and billing details.",
                      "insufficient_quota", code="insufficient_quota", headers={"x-should-retry": "false"})
    return _error(response.status, "The server had an error while processing your request. Sorry about that!",
                  "server_error")


def _authorized(request: Request) -> Response | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme == "Bearer" and key:
        return None
    return _error(401, "You didn't provide an API key.", "invalid_request_error", code="invalid_api_key")


def _is_gpt_image(model: str) -> bool:
    return model.startswith(("gpt-image", "chatgpt-image"))


def _checked(params: dict) -> tuple[str, int, int, int]:
    """(model, n, width, height) of valid parameters; raises _Invalid like the API does."""
    model = params.get("model") or "dall-e-2"
    if model not in SIZES:
        raise _Invalid(f"Invalid value: '{model}'. Value must be one of {', '.join(SIZES)}.", "model")
    if not str(params.get("prompt") or "").strip():
        raise _Invalid("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
    try:
        n = int(params.get("n") or 1)
    except ValueError:
        raise _Invalid("Invalid type for 'n': expected an integer.", "n", "invalid_type") from None
    if not 1 <= n <= (1 if model == "dall-e-3" else 10):
        raise _Invalid(f"Invalid 'n': {n} is not supported for {model}.", "n")
    size = params.get("size") or SIZES[model][0]
    if size not in SIZES[model]:
        choices = ", ".join(f"'{s}'" for s in SIZES[model])
        raise _Invalid(f"Invalid value: '{size}'. Supported values are: {choices}.", "size")
    if _is_gpt_image(model) and params.get("response_format"):
        raise _Invalid("Unknown parameter: 'response_format'.", "response_format", "unknown_parameter")
    if params.get("stream") and not _is_gpt_image(model):
        raise _Invalid(f"Streaming is not supported for {model}.", "stream", "unsupported_value")
    width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
    return model, n, width, height


def _blocked(model: str) -> Response:
    if _is_gpt_image(model):
        return _error(400, "Your request was rejected by the safety system. If you believe this is an error, "
                      "contact us at help.openai.com and include the request ID.",
                      "image_generation_user_error", code="moderation_blocked")
    return _error(400, "Your request was rejected as a result of our safety system. Your prompt may contain "
                  "text that is not allowed by our safety system.", "invalid_request_error",
                  code="content_policy_violation")


def _seed(prompt: str) -> int:
    return zlib.crc32(prompt.encode())


def _items(request: Request, model: str, images: list[bytes], response_format: str | None) -> list[dict]:
    variant = knob_store.knobs(VENDOR).output_variant
    as_url = variant == "url" or (not _is_gpt_image(model) and response_format != "b64_json")
    items = []
    for image in images:
        if as_url:
            file_id = uuid.uuid4().hex
            _files[file_id] = image
            while len(_files) > MAX_FILES:
                _files.popitem(last=False)
            item = {"url": f"{request.base_url}/openai/files/{file_id}.png"}
        else:
            item = {"b64_json": base64.b64encode(image).decode()}
        if model == "dall-e-3":
            item["revised_prompt"] = "A detailed rendering of the requested scene."
        items.append(item)
    return items


def _images_response(request: Request, model: str, params: dict, images: list[bytes], width: int,
                     height: int) -> Response:
    data = _items(request, model, images, params.get("response_format"))
    body = {"created": int(time.time()), "data": data}
    if _is_gpt_image(model):
        body |= {
            "background": "opaque", "output_format": "png", "quality": params.get("quality") or "high",
            "size": f"{width}x{height}", "usage": _usage(len(images)),
        }
    return json_response(body, headers={"x-request-id": f"req_{uuid.uuid4().hex}"})


def _usage(n: int) -> dict:
    return {"input_tokens": 12, "input_tokens_details": {"image_tokens": 0, "text_tokens": 12},
            "output_tokens": 1056 * n, "total_tokens": 12 + 1056 * n,
            "output_tokens_details": {"image_tokens": 1056 * n, "text_tokens": 0}}


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def _stream(prompt: str, n: int, width: int, height: int, partials: int, quality: str):
    knobs = knob_store.knobs(VENDOR)
    common = {"background": "opaque", "output_format": "png", "quality": quality, "size": f"{width}x{height}"}
    pause = knobs.job_seconds / n / (partials + 1)
    for index in range(n):
        frames = renderer.render_steps(prompt=prompt, negative_prompt="", seed=_seed(prompt) + index,
                                       width=width, height=height, style="sketch", steps=partials + 1)
        for step, canvas in enumerate(frames):
            await asyncio.sleep(pause)
            b64 = base64.b64encode(renderer.png_bytes(canvas)).decode()
            if step < partials:
                yield _sse("image_generation.partial_image", {
                    "type": "image_generation.partial_image", "b64_json": b64, "partial_image_index": step,
                    "created_at": int(time.time()), **common,
                })
            elif knobs.output_variant == "moderated_stream":
                knob_store.count(f"{VENDOR}:moderated_stream")
                yield _sse("error", {"type": "error", "error": {
                    "message": "Your request was rejected by the safety system.",
                    "type": "image_generation_user_error", "param": None, "code": "moderation_blocked",
                }})
                return
            else:
                yield _sse("image_generation.completed", {
                    "type": "image_generation.completed", "b64_json": b64, "created_at": int(time.time()),
                    "usage": _usage(1), **common,
                })


def multipart_form(request: Request) -> tuple[dict[str, str], dict[str, list[bytes]]] | None:
    """(fields, files by name) of a multipart/form-data body, or None when it is not one."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return None
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
    )
    fields, files = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is None:
            fields[name] = payload.decode()
        else:
            files.setdefault(name, []).append(payload)
    return fields, files


def _open(content: bytes, param: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(content))
        image.load()
    except (UnidentifiedImageError, OSError):
        raise _Invalid(f"Invalid image file or mode for '{param}'.", param, "invalid_image_format") from None
    return image.convert("RGBA")


def _edited(fields: dict, files: dict, seed: int, width: int, height: int) -> bytes:
    images = files.get("image[]") or files.get("image")
    if not images:
        raise _Invalid("Missing required parameter: 'image'.", "image", "missing_required_parameter")
    first = _open(images[0], "image")
    painted = Image.open(io.BytesIO(picture(fields["prompt"], seed, width, height))).convert("RGBA")
    if masks := files.get("mask"):
        mask = _open(masks[0], "mask")
        if mask.size != first.size:
            raise _Invalid("Invalid mask image: the mask and the image must be the same size.", "mask")
        # Transparent areas of the mask are the ones to edit.
        keep = mask.getchannel("A").resize((width, height))
        result = Image.composite(first.resize((width, height)), painted, keep)
    else:
        result = Image.blend(first.resize((width, height)), painted, 0.5)
    out = io.BytesIO()
    result.convert("RGB").save(out, format="PNG")
    return out.getvalue()


def register(router: Router) -> None:
    @router.route("GET", "/openai/v1/models")
    async def models(request: Request) -> Response:
        """The models the key may use (`GET /v1/models`); a key other than the stand-in is refused."""
        if response := await _faults(request):
            return response
        if request.headers.get("authorization") != f"Bearer {standins.OPENAI_API_KEY}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error", code="invalid_api_key")
        return json_response({"object": "list", "data": [
            {"id": model, "object": "model", "created": 1745000000, "owned_by": "system"}
            for model in ("gpt-image-1", "dall-e-3", "dall-e-2")
        ]})

    @router.route("POST", "/openai/v1/images/generations")
    async def generations(request: Request) -> Response:
        if response := await _faults(request) or _authorized(request):
            return response
        try:
            params = request.json()
            model, n, width, height = _checked(params if isinstance(params, dict) else {})
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        except _Invalid as invalid:
            return _error(400, str(invalid), "invalid_request_error", param=invalid.param, code=invalid.code)
        if is_blocked(VENDOR, params["prompt"]):
            knob_store.count(f"{VENDOR}:blocked")
            return _blocked(model)
        knob_store.count(f"{VENDOR}:created")  # billed from here on, whatever happens to the answer
        if answer_lost(VENDOR):
            await asyncio.sleep(knob_store.knobs(VENDOR).job_seconds)
            return LOST_ANSWER
        if params.get("stream"):
            partials = max(0, min(3, int(params.get("partial_images") or 0)))
            stream = _stream(params["prompt"], n, width, height, partials, params.get("quality") or "auto")
            return Response(200, headers={"content-type": "text/event-stream", "cache-control": "no-cache"},
                            stream=stream)
        await asyncio.sleep(knob_store.knobs(VENDOR).job_seconds)
        images = [picture(params["prompt"], _seed(params["prompt"]) + i, width, height) for i in range(n)]
        return _images_response(request, model, params, images, width, height)

    @router.route("POST", "/openai/v1/images/edits")
    async def edits(request: Request) -> Response:
        if response := await _faults(request) or _authorized(request):
            return response
        form = multipart_form(request)
        if form is None:
            return _error(400, "Invalid Content-Type header: expected multipart/form-data.",
                          "invalid_request_error")
        fields, files = form
        fields.setdefault("model", "gpt-image-1")
        try:
            model, n, width, height = _checked(fields)
            if is_blocked(VENDOR, fields["prompt"]):
                knob_store.count(f"{VENDOR}:blocked")
                return _blocked(model)
            images = [_edited(fields, files, _seed(fields["prompt"]) + i, width, height) for i in range(n)]
        except _Invalid as invalid:
            return _error(400, str(invalid), "invalid_request_error", param=invalid.param, code=invalid.code)
        await asyncio.sleep(knob_store.knobs(VENDOR).job_seconds)
        return _images_response(request, model, fields, images, width, height)

    @router.route("GET", r"/openai/files/(?P<file_id>[0-9a-f]{32})\.png")
    async def file(request: Request) -> Response:
        content = _files.get(request.params["file_id"])
        if content is None:
            return Response(404, b"Not found", {"content-type": "text/plain"})
        return Response(200, content, {"content-type": "image/png"})
