"""Model inputs for the routes that do more than text-to-image, shared by the job adapters.

A route names its `task` in the catalogue; its inputs follow the provider model's published
schema, with the names a route may override (`image_input`, `mask_input`, `scale_input`,
`duration_input`) and constant inputs in its `input` table. Images go inline as data: URIs.

| task | inputs |
| --- | --- |
| `edit` | prompt + the photo (a list of photo and references with `image_list = true`) |
| `inpaint` | prompt + photo + mask (white is repainted) |
| `upscale` | photo + the factor (`scale_input`); `upscale_prompt = true` adds the prompt |
| `remove-background` | photo |
| `image-to-video` | prompt + the first frame + the length (`duration_input`, `duration_format`) |
| `text-to-video` | prompt + the length, and the ratio with `size = "aspect_ratio"` |

`duration_format`: `int` (5), `string` ("5") or `seconds` ("5s"); `duration_input = ""` sends none
(a model with one fixed length).
"""

import io

from PIL import Image, UnidentifiedImageError

from apps.providers.exceptions import ProviderRejectedError
from apps.providers.inputs import data_uri
from apps.providers.types import GenerationRequest

TASKS = ("edit", "inpaint", "upscale", "remove-background", "image-to-video", "text-to-video")
PHOTO_TASKS = ("edit", "inpaint", "upscale", "remove-background", "image-to-video")
DEFAULT_SECONDS = 5


def is_task(request: GenerationRequest) -> bool:
    return request.options.get("task") in TASKS


def duration_value(seconds: int, fmt: str):
    match fmt:
        case "string":
            return str(seconds)
        case "seconds":
            return f"{seconds}s"
    return seconds


def upscale_factor(request: GenerationRequest) -> int:
    """The factor asked for: the output width over the photo's (the service sized it from the tier)."""
    try:
        with Image.open(io.BytesIO(request.image)) as photo:
            width = photo.width
    except (UnidentifiedImageError, OSError):
        raise ProviderRejectedError("The photo could not be read. You were not charged.") from None
    return max(1, round(request.width / width))


def task_input(request: GenerationRequest, *, defaults: dict[str, str]) -> dict:
    """The model input for a task route. `defaults`: the provider's usual input names
    (`image`, `mask`, `scale`, `duration`, and `video_image` when a first frame's differs)."""
    options, task = request.options, request.options["task"]
    if task == "image-to-video" and "video_image" in defaults:
        defaults = {**defaults, "image": defaults["video_image"]}
    names = {key: options.get(f"{key}_input", value) for key, value in defaults.items()}
    body: dict = {}
    if task != "remove-background" and (task != "upscale" or options.get("upscale_prompt")):
        body["prompt"] = request.prompt
    if task in PHOTO_TASKS:
        if not request.image:
            raise ProviderRejectedError("This model starts from a photo: none was given. You were not charged.")
        photo = data_uri(request.image)
        if options.get("image_list"):
            body[names["image"]] = [photo, *(data_uri(ref) for ref in request.references)]
        else:
            body[names["image"]] = photo
    if task == "inpaint":
        if not request.mask:
            raise ProviderRejectedError("Repainting needs a mask. You were not charged.")
        body[names["mask"]] = data_uri(request.mask)
    if task == "upscale":
        body[names["scale"]] = upscale_factor(request)
    if task in ("image-to-video", "text-to-video") and names["duration"]:
        seconds = request.duration_seconds or DEFAULT_SECONDS
        body[names["duration"]] = duration_value(seconds, options.get("duration_format", "int"))
    if task in ("edit", "text-to-video") and options.get("size") == "aspect_ratio":
        body["aspect_ratio"] = request.aspect_ratio
    if request.negative_prompt and task in ("image-to-video", "text-to-video", "edit"):
        body["negative_prompt"] = request.negative_prompt
    return body | dict(options.get("input") or {})
