"""OpenAI Images payloads: sizes per model, the answer's images, the error envelope and the SSE stream."""

import base64
import binascii
import itertools
import json
from collections.abc import Iterable, Iterator

import httpx

from apps.catalog.models import nearest_aspect_ratio
from apps.providers import http
from apps.providers.exceptions import (
    ProviderBlockedError,
    ProviderError,
    ProviderRejectedError,
    ProviderRetryableError,
)
from apps.providers.types import ProviderOutput

# The sizes each model accepts, by aspect ratio.
GPT_IMAGE_SIZES = {"1:1": "1024x1024", "3:2": "1536x1024", "2:3": "1024x1536"}
SIZES = {
    "dall-e-2": {"1:1": "1024x1024"},
    "dall-e-3": {"1:1": "1024x1024", "7:4": "1792x1024", "4:7": "1024x1792"},
}
BLOCKED_CODES = {"content_policy_violation", "moderation_blocked"}


def is_gpt_image(model: str) -> bool:
    return model.startswith(("gpt-image", "chatgpt-image"))


def size_for(model: str, aspect_ratio: str) -> str:
    sizes = SIZES.get(model, GPT_IMAGE_SIZES)
    return sizes[nearest_aspect_ratio(aspect_ratio, list(sizes))]


def decoded(b64: str) -> bytes:
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ProviderError(extra={"reason": "image is not valid base64"}) from None


def _json(text: str) -> dict:
    try:
        return json.loads(text)
    except ValueError:
        raise ProviderError(extra={"reason": "answer is not JSON"}) from None


def outputs(response: httpx.Response) -> list[ProviderOutput]:
    """`data[].b64_json` (GPT image models) or `data[].url` (DALL·E, valid for an hour)."""
    body = _json(response.text)
    content_type = f"image/{body.get('output_format') or 'png'}"
    found = []
    for item in body.get("data") or []:
        if item.get("b64_json"):
            found.append(ProviderOutput(content=decoded(item["b64_json"]), content_type=content_type))
        elif item.get("url"):
            found.append(ProviderOutput(url=item["url"]))
    if not found:
        raise ProviderError(extra={"reason": "answer holds no image"})
    return found


def _error_of(response: httpx.Response) -> dict:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


def raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    error = _error_of(response)
    extra = {"status": response.status_code, "type": error.get("type"), "code": error.get("code")}
    if error.get("code") in BLOCKED_CODES:
        raise ProviderBlockedError(extra=extra)
    if response.status_code in http.ACCOUNT_STATUSES:
        http.raise_for_status(response)  # whatever x-should-retry says: staff must see a refused key
    # The API says itself whether a retry can help (a spent quota cannot).
    should_retry = response.headers.get("x-should-retry")
    if should_retry == "false":
        raise ProviderRejectedError(extra=extra)
    if should_retry == "true":
        raise ProviderRetryableError(retry_after=http.retry_after_seconds(response), extra=extra)
    http.raise_for_status(response)


def _raise_stream_error(error: dict) -> None:
    extra = {"type": error.get("type"), "code": error.get("code")}
    if error.get("code") in BLOCKED_CODES:
        raise ProviderBlockedError(extra=extra)
    if error.get("type") == "invalid_request_error":
        raise ProviderRejectedError(extra=extra)
    raise ProviderRetryableError(extra=extra)


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, dict]]:
    """(event name, JSON data) for each server-sent event; an error event raises."""
    event, data = "", []
    for line in itertools.chain(lines, [""]):  # a final blank line ends an unterminated last event
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line and data:
            text, name = "\n".join(data), event
            event, data = "", []
            if text == "[DONE]":
                return
            payload = _json(text)
            if name == "error" or payload.get("error"):
                _raise_stream_error(payload.get("error") or {})
            yield name or payload.get("type", ""), payload
