"""The adapter contract: one typed request in, one typed status out.

Everything past an adapter sees only these types; vendor payloads stop at the adapter.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Protocol


@dataclass(frozen=True)
class Route:
    """One way to run a catalogue model: a provider adapter, its model name and its limits."""

    provider: str  # adapter key
    model: str  # the provider's own model name (internal, never shown to users)
    options: dict = field(default_factory=dict)  # adapter-specific: version, size mode, workflow …

    @property
    def supports_negative_prompt(self) -> bool:
        return bool(self.options.get("negative_prompt", False))

    @property
    def max_images(self) -> int:
        return int(self.options.get("max_images", 1))

    @property
    def breaker_keys(self) -> tuple[str, str]:
        return (self.provider, f"{self.provider}:{self.model}")


@dataclass(frozen=True)
class GenerationRequest:
    job_id: str  # our generation id, passed to providers as an idempotency key where they take one
    provider_model: str
    prompt: str
    width: int
    height: int
    aspect_ratio: str = "1:1"
    num_images: int = 1
    negative_prompt: str = ""
    seed: str | None = None  # text: some providers' seeds exceed 64 bits
    options: dict = field(default_factory=dict)  # the route's options
    webhook_url: str | None = None  # where the provider should report, for job adapters
    # Edits: the photo to start from, a mask (white = repaint), reference images, how far to move.
    image: bytes | None = None
    mask: bytes | None = None
    references: tuple[bytes, ...] = ()
    strength: float | None = None
    # Video models: the clip's length in seconds.
    duration_seconds: int | None = None


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    BLOCKED = "blocked"

    @property
    def is_terminal(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


@dataclass(frozen=True)
class ProviderOutput:
    """An output as the provider gave it: bytes, a URL to download at once, or a data: URI."""

    content: bytes | None = None
    url: str | None = None
    content_type: str = "image/png"


@dataclass(frozen=True)
class ProviderStatus:
    state: JobState
    provider_job_id: str = ""
    progress: float | None = None  # 0..1 when the provider reports it
    queue_position: int | None = None
    preview: bytes | None = None  # a small intermediate image (JPEG/WebP/PNG bytes)
    outputs: tuple[ProviderOutput, ...] = ()
    error_code: str = ""
    error_message: str = ""  # operator-facing; users see a message of ours
    predict_seconds: float | None = None
    seed: str | None = None  # the seed the provider used, when it says


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook: who sent it (for de-duplication) and what it says."""

    delivery_id: str
    status: ProviderStatus


ProgressCallback = Callable[[ProviderStatus], None]
CancelCheck = Callable[[], bool]


class ProviderAdapter(Protocol):
    key: ClassVar[str]
    # Blocking adapters finish inside the worker's call (the offline engine, synchronous APIs,
    # a websocket-driven GPU server); the others are jobs: submitted, then polled or called back.
    blocking: ClassVar[bool]

    @classmethod
    def is_configured(cls) -> bool: ...


class JobAdapter(ProviderAdapter, Protocol):
    def submit(self, request: GenerationRequest) -> ProviderStatus: ...

    def poll(self, provider_job_id: str) -> ProviderStatus: ...

    def cancel(self, provider_job_id: str) -> None: ...

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> WebhookEvent: ...


class BlockingAdapter(ProviderAdapter, Protocol):
    def run(
        self, request: GenerationRequest, *, on_progress: ProgressCallback, is_canceled: CancelCheck
    ) -> ProviderStatus: ...
