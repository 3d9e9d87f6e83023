"""Replicate's JSON, both ways: prediction inputs out, prediction objects and problem details in."""

import mimetypes
import re
from urllib.parse import urlsplit

import httpx

from apps.providers import http, task_inputs
from apps.providers.exceptions import ProviderRejectedError
from apps.providers.face_swap import NO_FACE_CODE, NO_FACE_ERROR
from apps.providers.inputs import data_uri
from apps.providers.types import GenerationRequest, JobState, ProviderOutput, ProviderStatus

STATES = {
    "starting": JobState.QUEUED,
    "processing": JobState.RUNNING,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "canceled": JobState.CANCELED,
    "aborted": JobState.CANCELED,  # ended before it started, e.g. a deadline
}
# A tqdm bar line, as replicate-python's Progress.parse reads it: " 45%|████▌     | 9/20 [...]".
PROGRESS_LINE = re.compile(r"^\s*(?P<percentage>\d+)%\s*\|.+?\|\s*(?P<current>\d+)/(?P<total>\d+)")
SEED_LINE = re.compile(r"Using seed: (\d+)")
# Safety failures arrive as an ordinary `failed` prediction; only the error text tells them apart.
SAFETY_ERROR = re.compile(r"\bE005\b|flagged as sensitive|nsfw", re.IGNORECASE)
MAX_SEED = 2**63 - 1
# The input names most Replicate models use; a route overrides them (Kling's first frame is
# `start_image`, Hailuo's `first_frame_image`, Kontext's photo `input_image`).
TASK_INPUT_NAMES = {"image": "image", "mask": "mask", "scale": "scale", "duration": "duration",
                    "video_image": "start_image"}  # seeds are integer inputs; larger ones are left for the model to pick


def face_swap_input(request: GenerationRequest) -> dict:
    """A face-swap model's inputs: the photo to change and the photo of the face to put on it
    (names per route, defaulting to the common `input_image` / `swap_image`), inline as data URIs."""
    if not request.image or not request.references:
        raise ProviderRejectedError("Face swap needs a photo and a face photo. You were not charged.")
    return {
        request.options.get("target_input", "input_image"): data_uri(request.image),
        request.options.get("face_input", "swap_image"): data_uri(request.references[0]),
    }


def prediction_input(request: GenerationRequest) -> dict:
    if request.options.get("task") == "face-swap":
        return face_swap_input(request)
    if task_inputs.is_task(request):
        return task_inputs.task_input(request, defaults=TASK_INPUT_NAMES)
    inputs: dict = {"prompt": request.prompt}
    if request.options.get("max_images", 1) > 1:
        # Single-image models have no num_outputs input.
        inputs["num_outputs"] = request.num_images
    if request.seed is not None and request.seed.isdecimal() and int(request.seed) <= MAX_SEED:
        inputs["seed"] = int(request.seed)
    match request.options.get("size"):
        case "aspect_ratio":
            inputs["aspect_ratio"] = request.aspect_ratio
        case "pixels":
            inputs["width"], inputs["height"] = request.width, request.height
    if request.negative_prompt:
        inputs["negative_prompt"] = request.negative_prompt
    return inputs | dict(request.options.get("input") or {})  # the route's constant inputs


def log_progress(logs: str) -> float | None:
    """The last tqdm bar in the logs, as a fraction."""
    for line in reversed(logs.splitlines()):
        if match := PROGRESS_LINE.match(line.strip()):
            return min(int(match["percentage"]), 100) / 100
    return None


def _content_type(url: str) -> str:
    if url.startswith("data:"):
        return url[5:].split(";")[0].split(",")[0] or "image/png"
    return mimetypes.guess_type(urlsplit(url).path)[0] or "image/png"


def outputs_from(output) -> tuple[ProviderOutput, ...]:
    """`output` is a URL or data: URI string, a list of them, or null."""
    items = output if isinstance(output, list) else [output]
    return tuple(
        ProviderOutput(url=item, content_type=_content_type(item))
        for item in items
        if isinstance(item, str) and item.startswith(("https://", "http://", "data:"))
    )


def prediction_status(prediction: dict) -> ProviderStatus:
    status = prediction.get("status")
    # An unknown (newer) status is treated as still going: the deadline bounds the job.
    state = STATES.get(status, JobState.RUNNING)
    logs = prediction.get("logs") or ""
    error = str(prediction.get("error") or "")
    outputs = outputs_from(prediction.get("output"))
    progress = log_progress(logs)
    error_code = ""
    if state == JobState.FAILED and SAFETY_ERROR.search(error):
        state, error_code = JobState.BLOCKED, "content_blocked"
    elif state == JobState.FAILED:
        error_code = NO_FACE_CODE if NO_FACE_ERROR.search(error) else "model_error"
    elif state == JobState.SUCCEEDED:
        progress = 1.0
        if not outputs:
            state, error_code, error = JobState.FAILED, "empty_output", "succeeded without an output"
    seed = (prediction.get("input") or {}).get("seed")
    if seed is None and (match := SEED_LINE.search(logs)):
        seed = match[1]
    return ProviderStatus(
        state=state, provider_job_id=str(prediction["id"]), progress=progress, outputs=outputs,
        error_code=error_code, error_message=error[:500],
        predict_seconds=(prediction.get("metrics") or {}).get("predict_time"),
        seed=None if seed is None else str(seed),
    )


def retry_after(response: httpx.Response) -> float | None:
    """A 429's wait: the Retry-After header, else the `retry_after` its body may carry."""
    if (seconds := http.retry_after_seconds(response)) is not None:
        return seconds
    value = problem_details(response).get("retry_after")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def problem_details(response: httpx.Response) -> dict:
    """The RFC 7807-style error body ({title, detail, status, ...}), or {} when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
