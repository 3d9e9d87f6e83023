"""Stability v2beta payloads: the form, the two answer shapes (raw image or JSON) and errors."""

import base64
import binascii

import httpx

from apps.catalog.models import nearest_aspect_ratio
from apps.providers import http
from apps.providers.exceptions import ProviderBlockedError, ProviderError
from apps.providers.types import GenerationRequest, ProviderOutput

ENDPOINTS = ("core", "ultra", "sd3")
ASPECT_RATIOS = ["16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"]
MAX_SEED = 4_294_967_294  # 0 asks for a random one


def form(request: GenerationRequest, index: int) -> list[tuple[str, tuple[None, str]]]:
    """The fields for image `index`, as file-less parts: the API takes only multipart/form-data."""
    fields = {
        "prompt": request.prompt,
        "aspect_ratio": nearest_aspect_ratio(request.aspect_ratio, ASPECT_RATIOS),
        "output_format": "png",
    }
    if sd3_model := request.options.get("sd3_model"):
        fields["model"] = sd3_model  # the sd3 endpoint serves the SD 3.5 family, named by `model`
    if request.negative_prompt:
        fields["negative_prompt"] = request.negative_prompt
    # Image i gets seed + i, like a batch would; a seed past the API's range is left to it.
    if request.seed is not None and int(request.seed) + index <= MAX_SEED:
        fields["seed"] = str(int(request.seed) + index)
    return [(name, (None, value)) for name, value in fields.items()]


def raise_for_error(response: httpx.Response) -> None:
    """Errors are `{id, name, errors: [..]}`; `content_moderation` (403) is a safety block."""
    if response.status_code < 400:
        return
    try:
        name = response.json().get("name")
    except (ValueError, AttributeError):
        name = None
    if name == "content_moderation":
        raise ProviderBlockedError(extra={"status": response.status_code, "name": name})
    http.raise_for_status(response)


def output(response: httpx.Response) -> tuple[ProviderOutput, str | None]:
    """(image, seed used) from raw bytes with `finish-reason`/`seed` headers, or from JSON
    `{image, finish_reason, seed}`. CONTENT_FILTERED comes with HTTP 200 and a blurred image."""
    raise_for_error(response)
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = response.json()
            image = base64.b64decode(body["image"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise ProviderError(extra={"reason": "answer holds no image"}) from None
        finish_reason, seed = body.get("finish_reason"), body.get("seed")
        # e.g. "application/json; type=image/png"
        content_type = content_type.partition("type=")[2] or "image/png"
    else:
        image = response.content
        finish_reason, seed = response.headers.get("finish-reason"), response.headers.get("seed")
    if finish_reason == "CONTENT_FILTERED":
        raise ProviderBlockedError(extra={"finish_reason": finish_reason})
    output = ProviderOutput(content=image, content_type=content_type.split(";")[0])
    return output, None if seed is None else str(seed)
