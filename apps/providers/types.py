"""The adapter contract: one typed request in, one typed status out.

Everything past an adapter sees only these types; vendor payloads stop at the adapter.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Protocol


@dataclass(frozen=True)
class GenerationRequest:
    job_id: str  # our generation id, passed to providers as an idempotency key where they take one
    provider_model: str
    prompt: str
    width: int
    height: int
    num_images: int = 1
    negative_prompt: str = ""
    seed: str | None = None  # text: some providers' seeds exceed 64 bits
    params: dict = field(default_factory=dict)


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
    content: bytes | None = None
    url: str | None = None
    content_type: str = "image/png"


@dataclass(frozen=True)
class ProviderStatus:
    state: JobState
    provider_job_id: str = ""
    progress: float | None = None  # 0..1 when the provider reports it
    preview: bytes | None = None  # a small intermediate image (JPEG/WebP/PNG bytes)
    outputs: tuple[ProviderOutput, ...] = ()
    error_code: str = ""
    error_message: str = ""  # operator-facing; users see a message of ours
    predict_seconds: float | None = None


ProgressCallback = Callable[[ProviderStatus], None]
CancelCheck = Callable[[], bool]


class ProviderAdapter(Protocol):
    key: ClassVar[str]
    runs_locally: ClassVar[bool]

    @classmethod
    def is_configured(cls) -> bool: ...


class RemoteAdapter(ProviderAdapter, Protocol):
    """A hosted service: submitted, then tracked by polling and webhooks."""

    def submit(self, request: GenerationRequest) -> ProviderStatus: ...

    def poll(self, provider_job_id: str) -> ProviderStatus: ...

    def cancel(self, provider_job_id: str) -> None: ...

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> ProviderStatus: ...


class LocalAdapter(ProviderAdapter, Protocol):
    """Renders inside the worker, reporting each step."""

    def run(
        self, request: GenerationRequest, *, on_progress: ProgressCallback, is_canceled: CancelCheck
    ) -> ProviderStatus: ...
