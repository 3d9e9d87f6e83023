"""fal's JSON, in and out: the model input we send, and what its statuses, results, errors and
webhooks mean in our terms. No HTTP here."""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from apps.providers import task_inputs
from apps.providers.exceptions import ProviderRejectedError
from apps.providers.face_swap import NO_FACE_CODE, NO_FACE_ERROR
from apps.providers.inputs import data_uri
from apps.providers.types import GenerationRequest, JobState, ProviderOutput, ProviderStatus

# fal's named sizes. A preset is sent only for its exact size: a preset that merely shares the
# ratio would change the pixel count the user was quoted for (1360×768 asked, 1024×576 made).
IMAGE_SIZE_PRESETS = {
    (1024, 1024): "square_hd",
    (512, 512): "square",
    (1024, 768): "landscape_4_3",
    (768, 1024): "portrait_4_3",
    (1024, 576): "landscape_16_9",
    (576, 1024): "portrait_16_9",
}
# Namespaced model ids keep their prefix in the request URLs: workflows/{owner}/{app}.
NAMESPACES = {"workflows", "comfy"}
CONTENT_POLICY = "content_policy_violation"
TQDM_PERCENT = re.compile(r"(\d{1,3})%\|")
# fal's usual input names for photos, masks, factors and lengths (a route may override them).
TASK_INPUT_NAMES = {"image": "image_url", "mask": "mask_url", "scale": "scale", "duration": "duration"}


@dataclass(frozen=True)
class QueuedJob:
    """What poll and cancel need, packed into our provider_job_id as "<request_id>|<owner/app>".

    The request id comes first because webhooks name the job by it alone; the owner/app is the
    part of the model id fal's status, result and cancel URLs use (never a model's subpath).
    """

    request_id: str
    app: str

    @property
    def id(self) -> str:
        return f"{self.request_id}|{self.app}"

    @classmethod
    def parse(cls, provider_job_id: str) -> "QueuedJob":
        request_id, _, app = provider_job_id.partition("|")
        return cls(request_id=request_id, app=app)

    @property
    def path(self) -> str:
        return f"/{self.app}/requests/{self.request_id}"


def app_of(*, model_id: str, status_url: str | None, base_url: str) -> str:
    """The owner/app fal put in the status URL it returned, else the one the model id implies."""
    path = urlsplit(status_url or "").path
    base_path = urlsplit(base_url).path.rstrip("/")
    if path.startswith(base_path + "/") and "/requests/" in path:
        return path[len(base_path) + 1 : path.index("/requests/")]
    parts = model_id.strip("/").split("/")
    return "/".join(parts[: 3 if parts[0] in NAMESPACES else 2])


def image_size(width: int, height: int) -> str | dict:
    return IMAGE_SIZE_PRESETS.get((width, height)) or {"width": width, "height": height}


def face_swap_input(request: GenerationRequest) -> dict:
    """`fal-ai/face-swap`: the photo to change and the face to put on it, as data URIs (fal takes
    them wherever it takes a file URL)."""
    if not request.image or not request.references:
        raise ProviderRejectedError("Face swap needs a photo and a face photo. You were not charged.")
    return {
        request.options.get("target_input", "base_image_url"): data_uri(request.image),
        request.options.get("face_input", "swap_image_url"): data_uri(request.references[0]),
    }


def model_input(request: GenerationRequest) -> dict:
    if request.options.get("task") == "face-swap":
        return face_swap_input(request)
    if task_inputs.is_task(request):
        return task_inputs.task_input(request, defaults=TASK_INPUT_NAMES)
    body = {"prompt": request.prompt, "num_images": request.num_images, "enable_safety_checker": True}
    # Some fal models (Imagen, Nano Banana) take a ratio name instead of a pixel size.
    if request.options.get("size") == "aspect_ratio":
        body["aspect_ratio"] = request.aspect_ratio
    else:
        body["image_size"] = image_size(request.width, request.height)
    if request.negative_prompt:
        body["negative_prompt"] = request.negative_prompt
    if request.seed is not None:
        # fal's seeds are 64-bit unsigned (results show seeds above 2**63); ours stop at 2**64 - 1.
        body["seed"] = int(request.seed)
    return body | dict(request.options.get("input") or {})  # the route's constant inputs


def log_progress(logs: list | None) -> float | None:
    """A percentage from the last progress-bar line a model printed, if it printed one."""
    for entry in reversed(logs or []):
        if match := TQDM_PERCENT.search(str(entry.get("message", ""))):
            return min(int(match.group(1)), 100) / 100
    return None


def is_content_policy(body: dict) -> bool:
    detail = body.get("detail")
    if isinstance(detail, list):
        return any(isinstance(item, dict) and item.get("type") == CONTENT_POLICY for item in detail)
    return body.get("error_type") == CONTENT_POLICY


def error_text(body: dict) -> str:
    detail = body.get("detail")
    if isinstance(detail, list):
        return "; ".join(str(item.get("msg", item) if isinstance(item, dict) else item) for item in detail)
    return str(detail or body.get("error") or "")


def failed(job_id: str, *, code: str, message: str) -> ProviderStatus:
    if NO_FACE_ERROR.search(message) or code == "face_not_detected":
        code = NO_FACE_CODE  # a face-swap photo without a face: the user's input
    return ProviderStatus(state=JobState.FAILED, provider_job_id=job_id, error_code=code,
                          error_message=message[:500])


def blocked(job_id: str, message: str) -> ProviderStatus:
    return ProviderStatus(state=JobState.BLOCKED, provider_job_id=job_id, error_code=CONTENT_POLICY,
                          error_message=message[:500])


def result_status(job_id: str, body: dict) -> ProviderStatus:
    """A model's output JSON: images, the seed it used, and per-image safety flags."""
    if any(body.get("has_nsfw_concepts") or []):
        return blocked(job_id, "an output was flagged by the safety checker")
    outputs = result_outputs(body)
    if not outputs:
        return failed(job_id, code="no_output", message="the result holds no images")
    seed = body.get("seed")
    return ProviderStatus(
        state=JobState.SUCCEEDED, provider_job_id=job_id, progress=1.0, outputs=outputs,
        seed=str(seed) if isinstance(seed, int | str) else None,  # exact: JSON ints keep every digit
        predict_seconds=(body.get("timings") or {}).get("inference"),
    )


def result_outputs(body: dict) -> tuple[ProviderOutput, ...]:
    """Most image models answer `images: [File]`; single-image tools (face swap, upscalers,
    background removal) one `image: File`; video models one `video: File`."""
    files = [(item, "image/png") for item in body.get("images") or []]
    files += [(body[key], fallback) for key, fallback in (("image", "image/png"), ("video", "video/mp4"))
              if isinstance(body.get(key), dict)]
    return tuple(
        ProviderOutput(url=item["url"], content_type=item.get("content_type") or fallback)
        for item, fallback in files
        if isinstance(item, dict) and item.get("url")
    )


def webhook_status(job_id: str, body: dict) -> ProviderStatus:
    """A completion webhook: {request_id, status: OK|ERROR, payload, error?, payload_error?}."""
    payload = body.get("payload")
    if body.get("status") == "OK":
        if isinstance(payload, dict):
            return result_status(job_id, payload)
        return failed(job_id, code="payload_error", message=str(body.get("payload_error") or "no payload"))
    payload = payload if isinstance(payload, dict) else {}
    if is_content_policy(payload):
        return blocked(job_id, error_text(payload))
    return failed(job_id, code=str(payload.get("error_type") or "provider_error"),
                  message=error_text(payload) or str(body.get("error") or ""))
