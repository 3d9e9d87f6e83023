"""OpenAI Images: a synchronous call, streamed as server-sent events with partial images for GPT
image models so people see progress."""

import io
import time

import httpx
from django.conf import settings
from PIL import Image, UnidentifiedImageError

from apps.providers import budget, credentials, http
from apps.providers.exceptions import ProviderRejectedError, ProviderRetryableError
from apps.providers.registry import adapter_registry
from apps.providers.retry import RetryPolicy, call_with_retry
from apps.providers.types import (
    CancelCheck,
    GenerationRequest,
    JobState,
    ProgressCallback,
    ProviderOutput,
    ProviderStatus,
)

from . import protocol

PREVIEW_EDGE = 256


def _preview(image: bytes) -> bytes | None:
    """A small JPEG of a partial image: live updates carry it to the browser."""
    try:
        picture = Image.open(io.BytesIO(image)).convert("RGB")
    except (UnidentifiedImageError, OSError):
        return None
    picture.thumbnail((PREVIEW_EDGE, PREVIEW_EDGE))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=70)
    return out.getvalue()


def _as_openai_mask(mask: bytes) -> bytes:
    """Ours is white where to repaint; OpenAI repaints where the mask is transparent."""
    grey = Image.open(io.BytesIO(mask)).convert("L")
    rgba = Image.new("RGBA", grey.size, (0, 0, 0, 255))
    rgba.putalpha(grey.point(lambda value: 255 - value))
    out = io.BytesIO()
    rgba.save(out, format="PNG")
    return out.getvalue()


def _image_part(name: str, content: bytes) -> tuple[str, tuple[str, bytes, str]]:
    try:
        kind = (Image.open(io.BytesIO(content)).format or "").lower()
    except (UnidentifiedImageError, OSError):
        raise ProviderRejectedError(extra={"reason": f"{name} is not an image"}) from None
    return name, (f"{name.strip('[]')}.{kind}", content, f"image/{kind}")


@adapter_registry.register("openai")
class OpenAIImagesAdapter:
    key = "openai"
    blocking = True
    # Every call is billed and takes no idempotency key: one more try at most, and only after a
    # refused call (an answer lost on the way may have been billed: the router decides about those).
    retry_policy = RetryPolicy(attempts=2, base_delay=1.0)
    # A GPT image render can take a couple of minutes before the answer (or the next event) comes.
    read_timeout = 180.0
    partial_images = 2
    # "Test connection" in the admin: the models the key may use (GET /v1/models).
    credentials_probe = ("/models", (200,))

    @classmethod
    def is_configured(cls) -> bool:
        return bool(settings.OPENAI_BASE_URL and credentials.provider_secret(cls.key))

    @classmethod
    def api_credentials(cls) -> tuple[str, dict[str, str]]:
        """The API's base URL and auth headers (see fetch.py for where else they go)."""
        return settings.OPENAI_BASE_URL, {"Authorization": f"Bearer {credentials.provider_secret(cls.key)}"}

    def _client(self) -> httpx.Client:
        base_url, headers = self.api_credentials()
        return http.client(
            base_url=base_url, headers=headers,
            timeout=httpx.Timeout(self.read_timeout, connect=5.0, pool=5.0),
        )

    def _params(self, request: GenerationRequest, *, n: int) -> dict:
        params = {
            "model": request.provider_model, "prompt": request.prompt, "n": n,
            "size": protocol.size_for(request.provider_model, request.aspect_ratio),
        }
        if quality := request.options.get("quality"):
            params["quality"] = quality
        return params

    def run(
        self, request: GenerationRequest, *, on_progress: ProgressCallback, is_canceled: CancelCheck
    ) -> ProviderStatus:
        if request.image is not None:
            mask = _as_openai_mask(request.mask) if request.mask is not None else None
            return call_with_retry(lambda: self.edit(request, request.image, mask), self.retry_policy)
        started = time.monotonic()
        stream = request.options.get("stream", protocol.is_gpt_image(request.provider_model))
        with self._client() as client:
            if stream:
                outputs = []
                for index in range(request.num_images):
                    output = None if is_canceled() else call_with_retry(
                        lambda: self._stream_one(client, request, index, on_progress=on_progress,
                                                 is_canceled=is_canceled),
                        self.retry_policy,
                    )
                    if output is None:
                        return ProviderStatus(state=JobState.CANCELED)
                    outputs.append(output)
            else:
                outputs = call_with_retry(lambda: self._generate(client, request), self.retry_policy)
        return ProviderStatus(state=JobState.SUCCEEDED, progress=1.0, outputs=tuple(outputs),
                              predict_seconds=time.monotonic() - started)

    def _generate(self, client: httpx.Client, request: GenerationRequest) -> list[ProviderOutput]:
        response = http.send(client, "POST", "/images/generations", json=self._params(request, n=request.num_images))
        protocol.raise_for_error(response)
        return protocol.outputs(response)

    def _stream_one(
        self, client: httpx.Client, request: GenerationRequest, index: int, *,
        on_progress: ProgressCallback, is_canceled: CancelCheck,
    ) -> ProviderOutput | None:
        """One image over SSE (n > 1 is not documented for streams); None when canceled meanwhile."""
        params = {**self._params(request, n=1), "stream": True, "partial_images": self.partial_images}
        try:
            with client.stream("POST", "/images/generations", json=params,
                               timeout=budget.timeout(client.timeout)) as response:
                if response.status_code >= 400:
                    response.read()
                    protocol.raise_for_error(response)
                for event, data in protocol.sse_events(response.iter_lines()):
                    if is_canceled():
                        return None
                    budget.check()  # each read is bounded by the deadline, the stream as a whole too
                    if event == "image_generation.partial_image":
                        part = (data.get("partial_image_index", 0) + 1) / (self.partial_images + 1)
                        on_progress(ProviderStatus(
                            state=JobState.RUNNING, progress=(index + part) / request.num_images,
                            preview=_preview(protocol.decoded(data.get("b64_json", ""))),
                        ))
                    elif event == "image_generation.completed":
                        return ProviderOutput(content=protocol.decoded(data.get("b64_json", "")),
                                              content_type=f"image/{data.get('output_format') or 'png'}")
        except httpx.TransportError as error:
            raise http.transport_error(error) from error
        raise ProviderRetryableError(extra={"reason": "stream ended without an image"})

    def edit(self, request: GenerationRequest, image: bytes, mask: bytes | None = None) -> ProviderStatus:
        """Repaint `image` from the prompt where `mask` is transparent (everywhere without a mask).

        Reached from `run` when a generation starts from a photo."""
        files = [_image_part("image[]", image)]
        if mask is not None:
            files.append(_image_part("mask", mask))
        params = self._params(request, n=request.num_images)
        with self._client() as client:
            response = http.send(client, "POST", "/images/edits",
                                 data={name: str(value) for name, value in params.items()}, files=files)
        protocol.raise_for_error(response)
        outputs = protocol.outputs(response)
        return ProviderStatus(state=JobState.SUCCEEDED, progress=1.0, outputs=tuple(outputs))
