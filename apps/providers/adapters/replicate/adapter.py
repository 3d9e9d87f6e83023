"""Replicate predictions: submitted, then polled or reported back by a signed webhook."""

import json

import httpx
from django.conf import settings

from apps.providers import budget, credentials, http
from apps.providers.exceptions import ProviderRetryableError, WebhookRejectedError
from apps.providers.registry import adapter_registry
from apps.providers.retry import RetryPolicy
from apps.providers.types import GenerationRequest, ProviderStatus, WebhookEvent

from . import payloads, webhooks

WEBHOOK_EVENTS = ["start", "output", "logs", "completed"]
MAX_PREFER_WAIT = 60  # seconds: the most `Prefer: wait=N` allows


@adapter_registry.register("replicate")
class ReplicateAdapter:
    key = "replicate"
    blocking = False
    # Creating a prediction takes no idempotency key: only a refused create is retried (once); after
    # a lost answer the router looks for the prediction instead (our webhook URL names the job).
    retry_policy = RetryPolicy(attempts=2, base_delay=1.0, max_delay=4.0, max_retry_after=10.0)
    read_timeout = 30.0  # seconds; a `Prefer: wait` call adds its wait
    # "Test connection" in the admin: the token's account (GET /v1/account).
    credentials_probe = ("/v1/account", (200,))

    @classmethod
    def is_configured(cls) -> bool:
        return bool(settings.REPLICATE_BASE_URL and credentials.provider_secret(cls.key))

    @classmethod
    def api_credentials(cls) -> tuple[str, dict[str, str]]:
        """The API's base URL and auth headers; outputs served from the API host need them too."""
        return settings.REPLICATE_BASE_URL, {"Authorization": f"Bearer {credentials.provider_secret(cls.key)}"}

    def _client(self, *, wait: int = 0) -> httpx.Client:
        base_url, headers = self.api_credentials()
        return http.client(
            base_url=base_url.rstrip("/") + "/v1", headers=headers,
            timeout=httpx.Timeout(connect=5.0, read=self.read_timeout + wait, write=30.0, pool=5.0),
        )

    def _call(self, method: str, path: str, *, wait: int = 0, **kwargs) -> dict:
        with self._client(wait=wait) as client:
            response = http.send(client, method, path, **kwargs)
        if response.status_code == 429:
            raise ProviderRetryableError(retry_after=payloads.retry_after(response),
                                         extra={"status": 429, **payloads.problem_details(response)})
        http.raise_for_status(response)
        try:
            return response.json()
        except ValueError:
            raise ProviderRetryableError(extra={"status": response.status_code, "body": "not JSON"}) from None

    def submit(self, request: GenerationRequest) -> ProviderStatus:
        body: dict = {"input": payloads.prediction_input(request)}
        if request.webhook_url:
            body |= {"webhook": request.webhook_url, "webhook_events_filter": WEBHOOK_EVENTS}
        if version := request.options.get("version"):
            path, body = "/predictions", {"version": version, **body}
        else:
            path = f"/models/{request.provider_model}/predictions"
        headers, wait = {}, self._prefer_wait(request)
        if wait:
            headers["Prefer"] = f"wait={wait}"
        # A synchronous answer may already be terminal, with its output.
        return payloads.prediction_status(self._call("POST", path, wait=wait, json=body, headers=headers))

    @staticmethod
    def _prefer_wait(request: GenerationRequest) -> int:
        value = request.options.get("prefer_wait")
        if not value:
            return 0
        wait = MAX_PREFER_WAIT if value is True else min(max(int(value), 1), MAX_PREFER_WAIT)
        return int(budget.seconds(wait))  # never held past the job's deadline (0: no wait asked)

    def poll(self, provider_job_id: str) -> ProviderStatus:
        return payloads.prediction_status(self._call("GET", f"/predictions/{provider_job_id}"))

    def cancel(self, provider_job_id: str) -> None:
        self._call("POST", f"/predictions/{provider_job_id}/cancel")

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> WebhookEvent:
        webhooks.verify(
            headers, body, secret=settings.REPLICATE_WEBHOOK_SECRET,
            tolerance=settings.PROVIDER_WEBHOOK_TOLERANCE_SECONDS,
        )
        try:
            status = payloads.prediction_status(json.loads(body))
        except (ValueError, TypeError, KeyError, AttributeError):
            raise WebhookRejectedError("Webhook body is not a prediction.") from None
        return WebhookEvent(delivery_id=headers["webhook-id"], status=status)
