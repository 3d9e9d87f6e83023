"""fal.ai's queue API: submit, poll the status, fetch the result, cancel, verify webhooks.

fal has no FAILED status: a job ends COMPLETED either way, and only the result fetch (or an
`error` in the status body) says whether it worked.
"""

import hashlib
import json

import httpx
from django.conf import settings

from apps.providers import credentials, http
from apps.providers.exceptions import (
    ProviderBlockedError,
    ProviderError,
    ProviderResultUnreadableError,
    ProviderRetryableError,
    WebhookRejectedError,
)
from apps.providers.registry import adapter_registry
from apps.providers.retry import RetryPolicy
from apps.providers.types import GenerationRequest, JobState, ProviderStatus, WebhookEvent

from . import payloads, signatures
from .payloads import QueuedJob


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_type(response: httpx.Response, body: dict) -> str:
    return response.headers.get("x-fal-error-type") or str(body.get("error_type") or "")


def _raise_for_error(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    body = _json(response)
    extra = {"status": response.status_code, "error_type": _error_type(response, body),
             "detail": payloads.error_text(body)[:300]}
    if payloads.is_content_policy(body):
        raise ProviderBlockedError(extra=extra)
    try:
        return http.raise_for_status(response)
    except ProviderError as error:
        error.extra.update(extra)
        raise


@adapter_registry.register("fal")
class FalQueueAdapter:
    key = "fal"
    blocking = False
    # One retry only: a submit that timed out may have been queued, and would be billed twice;
    # fal itself retries queued requests on 503/504 and lost runners.
    retry_policy = RetryPolicy(attempts=2, base_delay=0.5, max_delay=4.0, max_retry_after=10.0)
    read_timeout = 30.0  # seconds; every queue call answers at once, whatever the job's length
    # "Test connection" in the admin: fal has no account endpoint on the queue, so the status of a
    # request that does not exist: 401/403 for a bad key, 404 ("Request not found") for a good one.
    credentials_probe = ("/fal-ai/flux/schnell/requests/00000000-0000-0000-0000-000000000000/status", (200, 404))

    @classmethod
    def is_configured(cls) -> bool:
        return bool(settings.FAL_QUEUE_URL and credentials.provider_secret(cls.key))

    @classmethod
    def api_credentials(cls) -> tuple[str, dict[str, str]]:
        """The queue's base URL and auth headers (see fetch.py for where else they go)."""
        return settings.FAL_QUEUE_URL, {"Authorization": f"Key {credentials.provider_secret(cls.key)}"}

    def _client(self) -> httpx.Client:
        base_url, headers = self.api_credentials()
        return http.client(
            base_url=base_url.rstrip("/"), headers=headers,
            timeout=httpx.Timeout(connect=5.0, read=self.read_timeout, write=30.0, pool=5.0),
        )

    def submit(self, request: GenerationRequest) -> ProviderStatus:
        params = {"fal_webhook": request.webhook_url} if request.webhook_url else None
        with self._client() as client:
            response = _raise_for_error(http.send(
                client, "POST", f"/{request.provider_model.strip('/')}",
                json=payloads.model_input(request), params=params,
            ))
        body = _json(response)
        if not body.get("request_id"):
            raise ProviderError(extra={"reason": "submit answered without a request id"})
        app = payloads.app_of(model_id=request.provider_model, status_url=body.get("status_url"),
                              base_url=settings.FAL_QUEUE_URL)
        job = QueuedJob(request_id=str(body["request_id"]), app=app)
        return ProviderStatus(state=JobState.QUEUED, provider_job_id=job.id,
                              queue_position=body.get("queue_position"))

    def job_id_named(self, request_id: str, model: str) -> str:
        """Our job id for a request fal names by its id alone (a webhook), submitted for `model`."""
        app = payloads.app_of(model_id=model, status_url=None, base_url=settings.FAL_QUEUE_URL)
        return QueuedJob(request_id=request_id, app=app).id

    def poll(self, provider_job_id: str) -> ProviderStatus:
        job = QueuedJob.parse(provider_job_id)
        with self._client() as client:
            response = _raise_for_error(http.send(client, "GET", f"{job.path}/status", params={"logs": "1"}))
            body = _json(response)
            match body.get("status"):
                case "IN_QUEUE":
                    return ProviderStatus(state=JobState.QUEUED, provider_job_id=job.id,
                                          queue_position=body.get("queue_position"))
                case "IN_PROGRESS":
                    return ProviderStatus(state=JobState.RUNNING, provider_job_id=job.id,
                                          progress=payloads.log_progress(body.get("logs")))
                case "COMPLETED":
                    return self._completed(client, job, body)
        # fal documents no other status: ask again rather than fail a job that may be fine.
        raise ProviderRetryableError(extra={"reason": f"unknown queue status {body.get('status')!r}"})

    def _completed(self, client: httpx.Client, job: QueuedJob, status_body: dict) -> ProviderStatus:
        """COMPLETED is not success: the result fetch answers the output or the job's error."""
        try:
            response = http.send(client, "GET", job.path)
        except ProviderRetryableError as error:  # a timeout: the job is done, its result unread
            raise ProviderResultUnreadableError(extra=error.extra) from None
        status_error = str(status_body.get("error") or "")
        if response.is_success:
            if status_error:
                return payloads.failed(job.id, code=str(status_body.get("error_type") or "provider_error"),
                                       message=status_error)
            return payloads.result_status(job.id, _json(response))
        body = _json(response)
        if payloads.is_content_policy(body):
            return payloads.blocked(job.id, payloads.error_text(body))
        error_type = _error_type(response, body) or str(status_body.get("error_type") or "")
        # Our account refused, a rate limit, or a 5xx naming no error of the job's own: the fetch
        # failed, not the job.
        unexplained_5xx = response.status_code >= 500 and not (error_type or status_error)
        if response.status_code in http.ACCOUNT_STATUSES:
            _raise_for_error(response)
        if response.status_code in (408, 429) or unexplained_5xx:
            raise ProviderResultUnreadableError(retry_after=http.retry_after_seconds(response),
                                                extra={"status": response.status_code})
        return payloads.failed(job.id, code=error_type or f"http_{response.status_code}",
                               message=payloads.error_text(body) or status_error)

    def cancel(self, provider_job_id: str) -> None:
        job = QueuedJob.parse(provider_job_id)
        with self._client() as client:
            response = http.send(client, "PUT", f"{job.path}/cancel")
        if _json(response).get("status") in ("ALREADY_COMPLETED", "NOT_FOUND"):
            return  # nothing left to stop
        _raise_for_error(response)

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> WebhookEvent:
        signatures.verify(headers, body)
        try:
            payload = json.loads(body)
            request_id = str(payload["request_id"])
        except (ValueError, KeyError, TypeError):
            raise WebhookRejectedError(extra={"reason": "not a fal webhook body"}) from None
        if payload.get("status") not in ("OK", "ERROR"):
            raise WebhookRejectedError(extra={"reason": "unknown webhook status"})
        return WebhookEvent(
            # fal re-sends a delivery it thinks failed with a fresh timestamp and signature but
            # the same body, so the body's hash (not the timestamp) tells a re-send from news.
            delivery_id=f"{request_id}:{hashlib.sha256(body).hexdigest()[:32]}",
            # Webhooks name the job by request id alone: the prefix of our provider_job_id.
            status=payloads.webhook_status(request_id, payload),
        )
