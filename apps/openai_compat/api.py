"""`/v1/images/generations` and `/v1/images/edits`: the OpenAI Images API, served by Darkroom.

Point any OpenAI client at `<SITE_URL>/v1` with a Darkroom API key:

    OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="dr_…").images.generate(prompt="…")
"""

import logging
from typing import Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import transaction
from django.http import Http404
from django.http.multipartparser import MultiPartParserError
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer
from pydantic import field_validator

from apps.accounts.services import api_key_authenticate
from apps.core.exceptions import ApplicationError
from apps.core.idempotency import idempotent_posts
from apps.core.openapi import document_api_conventions
from apps.imaging.exceptions import FileTooLargeError
from apps.media.uploads import TOO_LARGE_FLAG

from . import services, streaming
from .errors import OpenAIError, error_body, from_application_error

logger = logging.getLogger(__name__)

OPENAI_ERROR_SCHEMA = {
    "title": "OpenAIError",
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "message": {"type": "string"}, "type": {"type": "string"},
        "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]},
    }, "required": ["message", "type", "param", "code"]}},
    "required": ["error"],
}


class DarkroomKey(HttpBearer):
    openapi_description = "A Darkroom API key (`dr_…`) as the OpenAI API key."

    def authenticate(self, request, token):
        return api_key_authenticate(secret=token)


class OpenAICompatAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        return document_api_conventions(schema, error_schema=OPENAI_ERROR_SCHEMA)


openai_api = OpenAICompatAPI(
    title="Darkroom — OpenAI-compatible Images API",
    version="1.0",
    description="POST /v1/images/generations and /v1/images/edits as OpenAI's Images API, with a Darkroom API key.",
    auth=DarkroomKey(),
    urls_namespace="openai",
)


def _status_body(exc: Exception) -> tuple[int, dict]:
    """What any error raised under /v1/ answers, in OpenAI's error shape: (status, body)."""
    if isinstance(exc, ApplicationError):
        return from_application_error(exc)
    if isinstance(exc, ValidationError):
        first = exc.errors[0] if exc.errors else {}
        where = [str(p) for p in first.get("loc", ()) if p not in ("body", "payload", "query", "form")]
        message = f"Invalid value for '{where[-1]}': {first.get('msg')}" if where else "Invalid request body."
        return 400, error_body(status=400, message=message, code="invalid_value", param=where[-1] if where else None)
    if isinstance(exc, AuthenticationError):
        return 401, error_body(
            status=401, message="Incorrect API key provided. Use a Darkroom API key (dr_…) as the bearer token.",
            code="invalid_api_key",
        )
    if isinstance(exc, Http404):
        return 404, error_body(status=404, message="Not found.", code="not_found")
    if isinstance(exc, HttpError):
        return exc.status_code, error_body(status=exc.status_code, message=str(exc), code=None)
    if isinstance(exc, MultiPartParserError):
        return 400, error_body(status=400, message="The multipart body could not be read.", code="invalid_multipart")
    if isinstance(exc, SuspiciousOperation):
        # Django's request limits (DATA_UPLOAD_MAX_MEMORY_SIZE, …), which outside an API answer 400 too.
        status = 413 if isinstance(exc, RequestDataTooBig) else 400
        return status, error_body(status=status, message="The request body was refused: too large "
                                  "or too many fields.", code="request_too_large")
    return 500, error_body(status=500, message="Something went wrong on our side.", code=None)


def openai_error(request, exc: Exception):
    """The OpenAI-compatible API's one error mapper."""
    status, body = _status_body(exc)
    if status == 500:
        logger.error("OpenAI-compatible request failed", exc_info=exc, extra={"path": request.path})
    response = openai_api.create_response(request, body, status=status)
    if retry_after := getattr(exc, "retry_after", None):
        response["Retry-After"] = str(retry_after)
    return response


# Registered for each class django-ninja has a default handler for, so none of those answers instead.
for _error_class in (ApplicationError, ValidationError, AuthenticationError, Http404, HttpError,
                     MultiPartParserError, SuspiciousOperation, Exception):
    openai_api.add_exception_handler(_error_class, openai_error)


openai_api.add_decorator(idempotent_posts(openai_api, DarkroomKey()), mode="view")


class ImageData(Schema):
    b64_json: str | None = None
    url: str | None = None


class ImagesResponse(Schema):
    created: int
    data: list[ImageData]
    output_format: str
    size: str


class ImageGenerateIn(Schema):
    prompt: str = Field(description="What to draw.")
    model: str | None = Field(None, description="A Darkroom model slug, or gpt-image-1, dall-e-2, dall-e-3 …")
    n: int | None = Field(1, ge=1, le=10)
    size: str | None = Field("auto", description="WIDTHxHEIGHT (nearest ratio and size tier of the model) or auto.")
    quality: str | None = Field(None, description="auto, high/hd (largest tier), medium, standard, low (smallest).")
    response_format: Literal["url", "b64_json"] | None = Field(
        None, description="Default b64_json for gpt-image models, url otherwise. URLs expire (FILE_URL_TTL).",
    )
    stream: bool | None = Field(False, description=(
        "true: answer as Server-Sent Events — `image_generation.partial_image` events (the live previews, "
        "blurred to sharp), then `image_generation.completed` per image; `error` if it fails midway."))
    style: str | None = None
    background: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    moderation: str | None = None
    partial_images: int | None = Field(None, ge=0, le=3, description="With stream: how many partial images, 0 to 3.")
    user: str | None = None

    @field_validator("prompt", "model", "size", "quality", "style", "background", "output_format", "moderation",
                     "user")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        if value is not None and not services.text_is_storable(value):
            raise ValueError("text with a NUL character or an unpaired surrogate")
        return value


async def _answer(generation, *, model: str | None, response_format: str | None) -> dict:
    """Await the generation's end (no thread held meanwhile), then read its images for the answer."""
    finished = await services.generation_finished(generation_id=generation.id)
    b64 = services.wants_b64(requested_model=model, response_format=response_format)
    return await sync_to_async(services.images_response)(finished, b64=b64)


# The answer is JSON, or with `stream` an event stream (documented in full, as extras replace it).
STREAM_RESPONSE = {"responses": {"200": {"description": "OK", "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/ImagesResponse"}},
    "text/event-stream": {"schema": {"type": "string", "description": (
        "With stream: partial_image events, then a completed event per image, or an error event.")}},
}}}}


@openai_api.post("/images/generations", response=ImagesResponse, tags=["images"], summary="Create images",
                 exclude_none=True, openapi_extra=STREAM_RESPONSE)
async def images_generate(request, payload: ImageGenerateIn):
    """Makes the images and answers when they are done (bounded by the model's deadline); with
    `stream: true`, answers at once with Server-Sent Events (partial images, then the images)."""
    def create():
        return services.generate(
            user=request.auth, prompt=payload.prompt, model=payload.model, n=payload.n or 1, size=payload.size,
            quality=payload.quality,
        )

    if payload.stream:
        return await sync_to_async(_streamed)(create, partial_images=payload.partial_images or 0,
                                              prefix="image_generation", quality=payload.quality)
    generation = await sync_to_async(create)()
    return await _answer(generation, model=payload.model, response_format=payload.response_format)


def _streamed(create, *, partial_images: int, prefix: str, quality: str | None):
    """Create the generation and its stream's row together (before any worker can run it), then
    answer with the event stream. Refusals before this point are ordinary JSON errors."""
    with transaction.atomic():
        generation = create()
        services.stream_open(generation=generation, partial_images=partial_images)
    return streaming.stream_response(generation=generation, prefix=prefix, quality=quality)


def _form_flag(form, name: str) -> bool:
    value = (form.get(name) or "false").strip().lower()
    if value not in ("true", "1", "false", "0"):
        raise OpenAIError(f"Invalid value for '{name}': true or false.", code="invalid_value", param=name)
    return value in ("true", "1")


def _files(request, *names: str) -> list[tuple[str, bytes]]:
    if getattr(request, TOO_LARGE_FLAG, False):
        raise FileTooLargeError(limit=settings.MEDIA_MAX_UPLOAD_BYTES)
    return [(f.name, f.read()) for name in names for f in request.FILES.getlist(name)]


@openai_api.post("/images/edits", response=ImagesResponse, tags=["images"], summary="Edit an image",
                 exclude_none=True, openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
                     "type": "object", "required": ["image", "prompt"], "properties": {
                         "image": {"type": "string", "format": "binary", "description": "PNG, JPEG or WebP."},
                         "mask": {"type": "string", "format": "binary",
                                  "description": "PNG; transparent where the image should change."},
                         "prompt": {"type": "string"}, "model": {"type": "string"},
                         "n": {"type": "integer", "minimum": 1, "maximum": 10}, "size": {"type": "string"},
                         "quality": {"type": "string"}, "response_format": {"enum": ["url", "b64_json"]},
                         "stream": {"type": "boolean"},
                         "partial_images": {"type": "integer", "minimum": 0, "maximum": 3},
                     }}}}}, **STREAM_RESPONSE})
async def images_edit(request):
    """Multipart, as OpenAI's: `image` (or repeated `image[]`; extra images are references), an
    optional `mask`, `prompt`, `model`, `n`, `size`, `response_format`, `stream` and `partial_images`
    (Server-Sent Events as for generations, named `image_edit.…`). The files are stored as your
    uploads (Photos), then an edit model makes the images."""
    begun = await sync_to_async(_edit_begin)(request)
    if not isinstance(begun, tuple):
        return begun  # the event stream
    generation, model, response_format = begun
    return await _answer(generation, model=model, response_format=response_format)


def _edit_begin(request):
    """Read the form and create the generation (and with `stream`, answer the event stream):
    (generation, model, response_format), or the streaming response."""
    form = request.POST
    for name, values in form.lists():
        if not all(services.text_is_storable(value) for value in values):
            raise OpenAIError(f"Invalid value for '{name}': text with a NUL character.", code="invalid_value",
                              param=name)
    prompt = form.get("prompt", "")
    n_text = form.get("n") or "1"
    if not services.is_whole_number(n_text) or not 1 <= int(n_text) <= 10:
        raise OpenAIError("Invalid value for 'n': a whole number from 1 to 10.", code="invalid_value", param="n")
    response_format = form.get("response_format") or None
    if response_format not in (None, "url", "b64_json"):
        raise OpenAIError("Invalid value for 'response_format': url or b64_json.", code="invalid_value",
                          param="response_format")
    stream = _form_flag(form, "stream")
    partial_text = form.get("partial_images") or "0"
    if not services.is_whole_number(partial_text) or int(partial_text) > services.MAX_PARTIAL_IMAGES:
        raise OpenAIError("Invalid value for 'partial_images': a whole number from 0 to 3.", code="invalid_value",
                          param="partial_images")
    masks = _files(request, "mask")

    def create():
        return services.edit(
            user=request.auth, prompt=prompt, model=form.get("model"), n=int(n_text), size=form.get("size"),
            quality=form.get("quality"), images=_files(request, "image", "image[]"),
            mask=masks[0] if masks else None,
        )

    if stream:
        return _streamed(create, partial_images=int(partial_text), prefix="image_edit", quality=form.get("quality"))
    return create(), form.get("model"), response_format
