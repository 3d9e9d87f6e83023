"""What every simulated vendor shares: fault injection, pictures, webhook delivery."""

import asyncio
import io
import logging

import httpx
from PIL import Image

from apps.providers.adapters.offline import renderer

from . import knobs as knob_store
from .http import Request, Response, json_response

logger = logging.getLogger(__name__)


async def inject_faults(vendor: str, request: Request, *, error_body=None) -> Response | None:
    """Latency, hangs, 429s and 5xx per the vendor's knobs; None when the call may go through."""
    knobs = knob_store.knobs(vendor)
    knob_store.count(f"{vendor}:{request.method} {request.path}")
    if knobs.latency_ms:
        await asyncio.sleep(knobs.latency_ms / 1000)
    if knob_store.roll(knobs.timeout_rate):
        await asyncio.sleep(knobs.hang_seconds)
    if knob_store.roll(knobs.rate_limit_rate):
        knob_store.count(f"{vendor}:429")
        return json_response(
            error_body or {"detail": "Request was throttled."}, 429, {"retry-after": f"{knobs.retry_after:g}"}
        )
    if knob_store.roll(knobs.error_rate):
        knob_store.count(f"{vendor}:{knobs.error_status}")
        return json_response(error_body or {"detail": "Internal server error"}, knobs.error_status)
    return None


# What a create whose answer was lost gets: nothing it can read.
LOST_ANSWER = Response(201, b"{}", broken=True)


def answer_lost(vendor: str) -> bool:
    """Whether this create's answer is to be lost (the `lost_answers` knob), counted as `answer_lost`.
    The job is made (and counted `created`) all the same."""
    knobs = knob_store.knobs(vendor)
    if knobs.lost_answers <= 0:
        return False
    knobs.lost_answers -= 1
    knob_store.count(f"{vendor}:answer_lost")
    return True


def is_blocked(vendor: str, prompt: str) -> bool:
    return any(word in (prompt or "").lower() for word in knob_store.knobs(vendor).blocked_words)


def picture(prompt: str, seed: int, width: int, height: int, *, fmt: str = "PNG") -> bytes:
    """A deterministic stand-in image of the requested size."""
    canvas = None
    for canvas in renderer.render_steps(prompt=prompt or "", negative_prompt="", seed=seed, width=width,
                                        height=height, style="sketch", steps=2):
        pass
    out = io.BytesIO()
    canvas.save(out, format=fmt)
    return out.getvalue()


def preview(image_bytes: bytes, edge: int = 128) -> bytes:
    image = Image.open(io.BytesIO(image_bytes)).convert("RGB")
    image.thumbnail((edge, edge))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=60)
    return out.getvalue()


async def file_delay(vendor: str) -> None:
    """An output download held for the `file_delay_ms` knob (a large, slow file); the `/_sim/state`
    log notes `<vendor>:file_requested` and `<vendor>:file_sent`."""
    if delay := knob_store.knobs(vendor).file_delay_ms:
        knob_store.log(f"{vendor}:file_requested")
        await asyncio.sleep(delay / 1000)
        knob_store.log(f"{vendor}:file_sent")


async def deliver_webhook(vendor: str, url: str, body: bytes, headers_for_copy, *, then=None) -> None:
    """POST a webhook honouring the drop and duplicate knobs. `headers_for_copy(i)` signs each copy;
    `then()` is called once it was sent (or dropped)."""
    try:
        await _deliver(vendor, url, body, headers_for_copy)
    finally:
        if then is not None:
            then()


async def _deliver(vendor: str, url: str, body: bytes, headers_for_copy) -> None:
    knobs = knob_store.knobs(vendor)
    if knobs.webhook_delay:
        await asyncio.sleep(knobs.webhook_delay)
    if knob_store.roll(knobs.webhook_drop_rate):
        knob_store.count(f"{vendor}:webhook_dropped")
        return
    async with httpx.AsyncClient(timeout=10) as client:
        for copy in range(max(1, knobs.webhook_copies)):
            try:
                response = await client.post(url, content=body, headers=headers_for_copy(copy))
                knob_store.count(f"{vendor}:webhook_{response.status_code}")
                knob_store.log(f"{vendor}:webhook_answered_{response.status_code}")
            except httpx.HTTPError as error:
                knob_store.count(f"{vendor}:webhook_error")
                logger.warning("simulator webhook failed: %s", error)


def spawn(coro) -> None:
    """Run a coroutine in the background of the simulator's event loop."""
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


_background: set = set()
