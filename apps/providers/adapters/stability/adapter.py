"""Stability AI v2beta Stable Image: synchronous multipart calls, one image per call."""

import time

import httpx
from django.conf import settings

from apps.providers import credentials, http
from apps.providers.exceptions import ProviderRejectedError
from apps.providers.registry import adapter_registry
from apps.providers.retry import RetryPolicy, call_with_retry
from apps.providers.types import CancelCheck, GenerationRequest, JobState, ProgressCallback, ProviderStatus

from . import protocol


@adapter_registry.register("stability")
class StabilityAdapter:
    key = "stability"
    blocking = True
    # Every call is billed and takes no idempotency key: one more try at most, and only after a
    # refused call (an answer lost on the way may have been billed: the router decides about those).
    retry_policy = RetryPolicy(attempts=2, base_delay=1.0)
    read_timeout = 90.0
    # "Test connection" in the admin: the key's account (GET /v1/user/account).
    credentials_probe = ("/v1/user/account", (200,))

    @classmethod
    def is_configured(cls) -> bool:
        return bool(settings.STABILITY_BASE_URL and credentials.provider_secret(cls.key))

    @classmethod
    def api_credentials(cls) -> tuple[str, dict[str, str]]:
        """The API's base URL and auth headers (see fetch.py for where else they go)."""
        return settings.STABILITY_BASE_URL, {"Authorization": f"Bearer {credentials.provider_secret(cls.key)}"}

    def run(
        self, request: GenerationRequest, *, on_progress: ProgressCallback, is_canceled: CancelCheck
    ) -> ProviderStatus:
        if request.provider_model not in protocol.ENDPOINTS:
            raise ProviderRejectedError(extra={"model": request.provider_model})
        started = time.monotonic()
        base_url, headers = self.api_credentials()
        client = http.client(
            base_url=base_url, headers={**headers, "Accept": request.options.get("accept", "image/*")},
            timeout=httpx.Timeout(self.read_timeout, connect=5.0, pool=5.0),
        )
        outputs, seeds = [], []
        with client:
            for index in range(request.num_images):
                if index:
                    on_progress(ProviderStatus(state=JobState.RUNNING, progress=index / request.num_images))
                if is_canceled():
                    return ProviderStatus(state=JobState.CANCELED)
                path = f"/v2beta/stable-image/generate/{request.provider_model}"
                output, seed = call_with_retry(
                    lambda: protocol.output(http.send(client, "POST", path, files=protocol.form(request, index))),
                    self.retry_policy,
                )
                outputs.append(output)
                seeds.append(seed)
        return ProviderStatus(state=JobState.SUCCEEDED, progress=1.0, outputs=tuple(outputs), seed=seeds[0],
                              predict_seconds=time.monotonic() - started)
