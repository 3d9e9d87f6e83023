"""ComfyUI, a self-hosted GPU server: queue a workflow, follow it on the websocket, fetch the images.

ComfyUI only reports progress over its websocket, and only to the client id that queued the
prompt, so the socket is opened before the prompt is sent. The job is done when the server says
`executing` with `node: null` for our prompt: it saves the history just before that message.
"""

import json
import logging
import struct
import time
import uuid
from pathlib import Path

import httpx
from django.conf import settings
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from apps.providers import http
from apps.providers.exceptions import ProviderError, ProviderRejectedError, ProviderRetryableError
from apps.providers.registry import adapter_registry
from apps.providers.retry import RetryPolicy
from apps.providers.types import (
    CancelCheck,
    GenerationRequest,
    JobState,
    ProgressCallback,
    ProviderOutput,
    ProviderStatus,
)

from . import workflow

logger = logging.getLogger(__name__)

# Binary websocket frames: big-endian uint32 event type, then for previews a uint32 image format.
PREVIEW_IMAGE_EVENT = 1
PREVIEW_FORMATS = (1, 2)  # JPEG, PNG


def preview_from_frame(frame: bytes) -> bytes | None:
    """The image in a binary preview frame, or None for any other binary event."""
    if len(frame) <= 8:
        return None
    event, image_format = struct.unpack(">II", frame[:8])
    return frame[8:] if event == PREVIEW_IMAGE_EVENT and image_format in PREVIEW_FORMATS else None


def websocket_url(base_url: str, client_id: str) -> str:
    scheme, _, rest = base_url.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws?clientId={client_id}"


@adapter_registry.register("comfyui")
class ComfyUIAdapter:
    key = "comfyui"
    blocking = True
    # A run holds a worker for the whole job: on an outage, move on to the next route rather than
    # run it again here.
    retry_policy = RetryPolicy(attempts=1)
    template_dir: Path = workflow.TEMPLATE_DIR
    # The whole job, queueing included; a route's `timeout_seconds` overrides it. Under the
    # catalogue's default generation deadline (300 s), so a stuck server leaves time to fall back.
    timeout_seconds = 240.0
    recv_seconds = 0.5  # longest wait on the socket between cancel checks
    connect_seconds = 5.0
    http_timeout = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)

    @classmethod
    def is_configured(cls) -> bool:
        # The websocket URL is derived from it, so only an http(s) base URL will do.
        return settings.COMFYUI_URL.startswith(("http://", "https://"))

    def run(
        self, request: GenerationRequest, *, on_progress: ProgressCallback, is_canceled: CancelCheck
    ) -> ProviderStatus:
        template = workflow.load_template(request.provider_model, self.template_dir)
        graph, seed = workflow.build_workflow(template, request)
        base_url = settings.COMFYUI_URL.rstrip("/")
        client_id = uuid.uuid4().hex
        started = time.monotonic()
        deadline = started + float(request.options.get("timeout_seconds", self.timeout_seconds))
        with (
            http.client(base_url=base_url, headers={}, timeout=self.http_timeout) as api,
            self._connect(websocket_url(base_url, client_id)) as socket,
        ):
            prompt_id = self._queue(api, graph, client_id)
            ended = self._follow(api, socket, prompt_id, deadline=deadline, on_progress=on_progress,
                                 is_canceled=is_canceled)
            if ended is not None:
                return ended
            outputs = self._outputs(api, prompt_id, output_node=workflow.marked_nodes(graph)["output"])
        return ProviderStatus(
            state=JobState.SUCCEEDED, provider_job_id=prompt_id, progress=1.0, outputs=outputs,
            predict_seconds=time.monotonic() - started, seed=str(seed),
        )

    def _connect(self, url: str) -> ClientConnection:
        try:
            return connect(url, open_timeout=self.connect_seconds, close_timeout=1, max_size=16 * 1024 * 1024)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as error:
            # Whatever keeps us off the socket (down, wrong URL, a proxy's 502) is an outage for
            # routing: the next route may well work.
            raise ProviderRetryableError(extra={"transport": type(error).__name__}) from error

    def _queue(self, api: httpx.Client, graph: dict, client_id: str) -> str:
        response = http.send(api, "POST", "/prompt", json={"prompt": graph, "client_id": client_id})
        if response.status_code == 400:
            raise ProviderRejectedError(extra={"status": 400, **self._validation_errors(response)})
        body = http.raise_for_status(response).json()
        prompt_id = body["prompt_id"]
        if body.get("node_errors"):
            # Queued with some outputs dropped for failing validation: not the graph we meant to run.
            self._stop(api, prompt_id, running=False)
            raise ProviderRejectedError(extra=self._validation_errors(response))
        return prompt_id

    @staticmethod
    def _validation_errors(response: httpx.Response) -> dict:
        try:
            body = response.json()
        except ValueError:
            return {"body": response.text[:500]}
        error = body.get("error")
        node_errors = body.get("node_errors") or {}
        return {
            "error": error.get("type") if isinstance(error, dict) else error,
            "node_errors": {
                node_id: [e.get("details") or e.get("message") for e in node.get("errors", [])]
                for node_id, node in node_errors.items()
            },
        }

    def _follow(
        self, api: httpx.Client, socket: ClientConnection, prompt_id: str, *, deadline: float,
        on_progress: ProgressCallback, is_canceled: CancelCheck,
    ) -> ProviderStatus | None:
        """Relay progress until the prompt ends: None when it finished, else how it ended. A prompt
        we give up on is stopped, so it doesn't hold the GPU for nothing."""
        running, progress = False, 0.0
        while True:
            if is_canceled():
                self._stop(api, prompt_id, running=running)
                return ProviderStatus(state=JobState.CANCELED, provider_job_id=prompt_id)
            time_left = deadline - time.monotonic()
            if time_left <= 0:
                self._stop(api, prompt_id, running=running)
                raise ProviderRetryableError(extra={"timeout": "job deadline"})
            try:
                frame = socket.recv(timeout=min(self.recv_seconds, time_left))
            except TimeoutError:
                continue
            except ConnectionClosed as error:
                self._stop(api, prompt_id, running=running)
                raise ProviderRetryableError(extra={"transport": "websocket closed"}) from error
            if isinstance(frame, bytes):
                # Binary frames carry no prompt id; this client id only ever ran our prompt.
                if running and (preview := preview_from_frame(frame)):
                    on_progress(ProviderStatus(state=JobState.RUNNING, provider_job_id=prompt_id,
                                               progress=progress, preview=preview))
                continue
            message = json.loads(frame)
            kind, data = message.get("type"), message.get("data") or {}
            if kind == "status" and not running and "sid" not in data:
                # Everything queued on the server, ours included: at most this many are ahead of us.
                # (The greeting, with a `sid`, was sent before our prompt was queued.)
                remaining_jobs = data.get("status", {}).get("exec_info", {}).get("queue_remaining")
                if remaining_jobs is not None:
                    on_progress(ProviderStatus(state=JobState.QUEUED, provider_job_id=prompt_id,
                                               queue_position=max(remaining_jobs - 1, 0)))
                continue
            # Older servers leave prompt_id out of some messages; this client id only ran our prompt.
            if data.get("prompt_id", prompt_id) != prompt_id:
                continue
            if kind == "execution_start":
                running = True
                on_progress(ProviderStatus(state=JobState.RUNNING, provider_job_id=prompt_id, progress=0.0))
            elif kind == "progress" and data.get("max"):
                running = True
                progress = min(data["value"] / data["max"], 1.0)
                on_progress(ProviderStatus(state=JobState.RUNNING, provider_job_id=prompt_id,
                                           progress=progress))
            elif kind in ("execution_error", "execution_interrupted"):
                logger.warning("comfyui prompt failed", extra={
                    "prompt_id": prompt_id, "event": kind, "node_type": data.get("node_type"),
                    "exception_type": data.get("exception_type"), "exception": data.get("exception_message"),
                })
                return ProviderStatus(
                    state=JobState.FAILED, provider_job_id=prompt_id,
                    error_code="execution_error" if kind == "execution_error" else "interrupted",
                    error_message=f"{data.get('node_type')}: {data.get('exception_message') or kind}"[:500],
                )
            elif kind == "executing" and data.get("node") is None:
                return None

    def _outputs(self, api: httpx.Client, prompt_id: str, *, output_node: str) -> tuple[ProviderOutput, ...]:
        history = http.raise_for_status(http.send(api, "GET", f"/history/{prompt_id}")).json()
        images = history.get(prompt_id, {}).get("outputs", {}).get(output_node, {}).get("images", [])
        if not images:
            raise ProviderError(extra={"reason": "the output node saved no images"})
        outputs = []
        for image in images:
            response = http.raise_for_status(http.send(api, "GET", "/view", params={
                "filename": image["filename"], "subfolder": image.get("subfolder", ""),
                "type": image.get("type", "output"),
            }))
            content_type = response.headers.get("content-type", "image/png").split(";")[0]
            outputs.append(ProviderOutput(content=response.content, content_type=content_type))
        return tuple(outputs)

    def _stop(self, api: httpx.Client, prompt_id: str, *, running: bool) -> None:
        """Drop the prompt from the queue, or interrupt it once it runs. Older servers ignore the
        interrupt's `prompt_id` and stop whatever runs, so we only interrupt while ours does."""
        try:
            http.raise_for_status(http.send(api, "POST", "/queue", json={"delete": [prompt_id]}))
            if running:
                http.raise_for_status(http.send(api, "POST", "/interrupt", json={"prompt_id": prompt_id}))
        except ProviderError:
            logger.warning("comfyui stop failed", extra={"prompt_id": prompt_id})
