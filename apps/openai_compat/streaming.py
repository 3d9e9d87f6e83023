"""`stream: true`: an image request answered as Server-Sent Events, as OpenAI streams gpt-image.

    event: image_generation.partial_image
    data: {"type": "image_generation.partial_image", "b64_json": "…", "partial_image_index": 0, …}

    event: image_generation.completed
    data: {"type": "image_generation.completed", "b64_json": "…", "usage": {…}, …}

Partial images are the generation's live previews (small JPEGs, blurred to sharp), kept by
`services.stream_preview_keep`; one `completed` event follows per image. Edits use the
`image_edit.` prefix. A failure after the stream began ends it with an `error` event carrying
OpenAI's error object, which the official clients raise as an `APIError`.
"""

import asyncio
import json
import logging
import math
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse

from apps.core.exceptions import ApplicationError

from . import services
from .errors import error_body, from_application_error

logger = logging.getLogger(__name__)


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _usage(prompt: str) -> dict:
    # Darkroom charges credits, not tokens: this is OpenAI's shape with an estimate of the prompt
    # (about four characters a token) and no output tokens.
    text = math.ceil(len(prompt) / 4)
    return {"input_tokens": text, "input_tokens_details": {"text_tokens": text, "image_tokens": 0},
            "output_tokens": 0, "total_tokens": text}


def _completed(generation) -> list[dict]:
    answer = services.images_response(generation, b64=True)
    return [
        {"b64_json": item["b64_json"], "size": answer["size"], "output_format": answer["output_format"],
         "usage": _usage(generation.prompt)}
        for item in answer["data"]
    ]


async def image_events(*, generation_id, prefix: str, quality: str | None, size: str):
    """The stream's events, from the first partial image to the last completed image (or an error)."""
    common = {"background": "auto", "quality": quality or "auto"}
    poll = settings.OPENAI_COMPAT_POLL_SECONDS
    sent = 0
    last_write = time.monotonic()
    try:
        while True:
            # Read the status first: every partial kept before the generation ended is then seen too.
            generation = await sync_to_async(services.generation_check)(generation_id=generation_id)
            for b64 in await sync_to_async(services.stream_partials)(generation_id=generation_id, after=sent):
                yield _sse(f"{prefix}.partial_image", {
                    "type": f"{prefix}.partial_image", "b64_json": b64, "partial_image_index": sent,
                    "created_at": int(time.time()), "size": size, "output_format": "jpeg", **common,
                })
                sent += 1
                last_write = time.monotonic()
            if generation is not None:
                for image in await sync_to_async(_completed)(generation):
                    yield _sse(f"{prefix}.completed", {
                        "type": f"{prefix}.completed", "created_at": int(time.time()), **common, **image,
                    })
                return
            if time.monotonic() - last_write >= settings.EVENTS_KEEPALIVE_SECONDS:
                # A comment line, which clients skip: keeps proxies from closing a quiet connection.
                last_write = time.monotonic()
                yield ": keepalive\n\n"
            await asyncio.sleep(poll)
    except ApplicationError as error:
        _, body = from_application_error(error)
        yield _sse("error", {"type": "error", **body})
    except Exception:
        logger.exception("image stream failed", extra={"generation": str(generation_id)})
        yield _sse("error", {"type": "error", **error_body(
            status=500, message="Something went wrong on our side.", code=None)})
    finally:
        await sync_to_async(services.stream_close)(generation_id=generation_id)


def stream_response(*, generation, prefix: str, quality: str | None) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        image_events(generation_id=generation.id, prefix=prefix, quality=quality,
                     size=f"{generation.width}x{generation.height}"),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
