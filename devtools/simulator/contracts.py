"""The simulated hosted models that take photos or make clips: each one's published input schema
(the names it takes, which are required, the lengths and factors it allows) and its output shape,
as the providers' model pages document them. Text-to-image models need no entry: the vendors'
generic handling covers them.

Both simulated job vendors (Replicate, fal) look a model up here at submit: a known model's input
is checked against its contract (422 with the vendor's error shape otherwise) and its result is
made for real — an upscale is a Lanczos enlargement by the factor asked, a cut-out a GrabCut cut-out
(RGBA PNG), an edit a new picture at the photo's size, a clip a real H.264 MP4 of the length asked
(animated from the first frame, or from a picture of the prompt for text-to-video).

Every checked input is noted in the `/_sim/state` log as `<vendor>:input <model> <json>` (data URIs
shortened to their media type), so tests can compare what was sent with the contract.
"""

import base64
import binascii
import io
import json
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from apps.imaging import operations
from apps.providers.adapters.offline import motion

from . import knobs as knob_store
from .common import picture

CLIP_WIDTH = 320  # simulated clips are small: real MP4s, cheap to encode
CLIP_FPS = 12


@dataclass(frozen=True)
class Contract:
    task: str  # edit | inpaint | upscale | remove-background | image-to-video | text-to-video
    image: str = ""  # the photo's input name ("" for text-to-video)
    image_list: bool = False  # the photo (and references) go as a list of URIs
    image_optional: bool = False  # models that also draw from text alone (Nano Banana, Seedream)
    mask: str = ""
    scale: str = ""
    scales: tuple = (2, 4)
    duration: str = ""  # the length's input name; "" when the model makes one fixed length
    durations: tuple = ()  # the lengths it takes, in the form it takes them (5, "5" or "5s")
    fixed_seconds: int = 5  # the length made when the model takes none
    aspect_ratios: tuple = ()  # text-to-video: the ratios it takes
    prompt: bool = True  # a prompt is required
    output: str = "images"  # fal: images | image | video; Replicate: string | list

    @property
    def is_video(self) -> bool:
        return self.task in ("image-to-video", "text-to-video")


def _c(task, **values) -> Contract:
    return Contract(task=task, **values)


VIDEO_RATIOS = ("16:9", "9:16", "1:1")

FAL = {
    # Instruction edits.
    "fal-ai/flux-pro/kontext": _c("edit", image="image_url"),
    "fal-ai/flux-pro/kontext/max": _c("edit", image="image_url"),
    "fal-ai/nano-banana/edit": _c("edit", image="image_urls", image_list=True),
    "fal-ai/qwen-image-edit": _c("edit", image="image_url"),
    "fal-ai/bytedance/seedream/v4/edit": _c("edit", image="image_urls", image_list=True),
    "fal-ai/flux-pro/v1/fill": _c("inpaint", image="image_url", mask="mask_url"),
    # Upscalers and cut-outs answer one `image`.
    "fal-ai/esrgan": _c("upscale", image="image_url", scale="scale", prompt=False, output="image"),
    "fal-ai/clarity-upscaler": _c("upscale", image="image_url", scale="upscale_factor", prompt=False,
                                  output="image"),
    "fal-ai/birefnet/v2": _c("remove-background", image="image_url", prompt=False, output="image"),
    "fal-ai/bria/background/remove": _c("remove-background", image="image_url", prompt=False, output="image"),
    # Video models answer one `video`; lengths are strings.
    "fal-ai/veo3": _c("text-to-video", duration="duration", durations=("8s",), aspect_ratios=("16:9", "9:16"),
                      output="video"),
    "fal-ai/veo3/fast": _c("text-to-video", duration="duration", durations=("8s",),
                           aspect_ratios=("16:9", "9:16"), output="video"),
    "fal-ai/kling-video/v2.1/standard/image-to-video": _c("image-to-video", image="image_url", duration="duration",
                                                          durations=("5", "10"), output="video"),
    "fal-ai/kling-video/v2.1/master/text-to-video": _c("text-to-video", duration="duration", durations=("5", "10"),
                                                       aspect_ratios=VIDEO_RATIOS, output="video"),
    "fal-ai/kling-video/v2.5-turbo/pro/text-to-video": _c("text-to-video", duration="duration",
                                                          durations=("5", "10"), aspect_ratios=VIDEO_RATIOS,
                                                          output="video"),
    "fal-ai/wan/v2.2-a14b/image-to-video": _c("image-to-video", image="image_url", output="video"),
    "fal-ai/wan/v2.2-a14b/text-to-video": _c("text-to-video", aspect_ratios=VIDEO_RATIOS, output="video"),
    "fal-ai/minimax/hailuo-02/standard/image-to-video": _c("image-to-video", image="image_url", duration="duration",
                                                           durations=("6", "10"), output="video"),
    "fal-ai/minimax/hailuo-02/standard/text-to-video": _c("text-to-video", duration="duration",
                                                          durations=("6", "10"), output="video"),
    "fal-ai/bytedance/seedance/v1/pro/image-to-video": _c("image-to-video", image="image_url", duration="duration",
                                                          durations=("5", "10"), output="video"),
    "fal-ai/bytedance/seedance/v1/lite/text-to-video": _c("text-to-video", duration="duration",
                                                          durations=("5", "10"), aspect_ratios=VIDEO_RATIOS,
                                                          output="video"),
    "fal-ai/luma-dream-machine/ray-2": _c("text-to-video", duration="duration", durations=("5s", "9s"),
                                          aspect_ratios=VIDEO_RATIOS, output="video"),
    "fal-ai/luma-dream-machine/ray-2-flash/image-to-video": _c("image-to-video", image="image_url",
                                                               duration="duration", durations=("5s", "9s"),
                                                               output="video"),
}

REPLICATE = {
    "black-forest-labs/flux-kontext-pro": _c("edit", image="input_image", output="string"),
    "black-forest-labs/flux-kontext-max": _c("edit", image="input_image", output="string"),
    "black-forest-labs/flux-fill-pro": _c("inpaint", image="image", mask="mask", output="string"),
    "google/nano-banana": _c("edit", image="image_input", image_list=True, image_optional=True, output="string"),
    "qwen/qwen-image-edit": _c("edit", image="image", output="list"),
    "bytedance/seedream-4": _c("edit", image="image_input", image_list=True, image_optional=True, output="list"),
    "nightmareai/real-esrgan": _c("upscale", image="image", scale="scale", scales=(2, 4), prompt=False,
                                  output="string"),
    "philz1337x/clarity-upscaler": _c("upscale", image="image", scale="scale_factor", prompt=False, output="list"),
    "men1scus/birefnet": _c("remove-background", image="image", prompt=False, output="string"),
    "851-labs/background-remover": _c("remove-background", image="image", prompt=False, output="string"),
    "google/veo-3": _c("text-to-video", fixed_seconds=8, aspect_ratios=("16:9", "9:16"), output="string"),
    "google/veo-3-fast": _c("text-to-video", fixed_seconds=8, aspect_ratios=("16:9", "9:16"), output="string"),
    "kwaivgi/kling-v2.1-master": _c("text-to-video", duration="duration", durations=(5, 10),
                                    aspect_ratios=VIDEO_RATIOS, output="string"),
    "kwaivgi/kling-v2.5-turbo-pro": _c("text-to-video", duration="duration", durations=(5, 10),
                                       aspect_ratios=VIDEO_RATIOS, output="string"),
    "wan-video/wan-2.2-i2v-fast": _c("image-to-video", image="image", output="string"),
    "wan-video/wan-2.2-t2v-fast": _c("text-to-video", aspect_ratios=VIDEO_RATIOS, output="string"),
    "minimax/hailuo-02": _c("image-to-video", image="first_frame_image", duration="duration", durations=(6, 10),
                            output="string"),
    "bytedance/seedance-1-pro": _c("image-to-video", image="image", duration="duration", durations=(5, 10),
                                   output="string"),
    "bytedance/seedance-1-lite": _c("text-to-video", duration="duration", durations=(5, 10),
                                    aspect_ratios=VIDEO_RATIOS, output="string"),
    "luma/ray-2-720p": _c("text-to-video", duration="duration", durations=(5, 9), aspect_ratios=VIDEO_RATIOS,
                          output="string"),
    "luma/ray-flash-2-720p": _c("image-to-video", image="start_image", duration="duration", durations=(5, 9),
                                output="string"),
}
# Models the vendor modules answer themselves (Kling 2.1's first-frame clips, made full size).
VENDOR_HANDLED = {"kwaivgi/kling-v2.1"}
# Community models are created by version id alone: the id names the model.
REPLICATE_VERSIONS = {
    "42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b": "nightmareai/real-esrgan",
    "dfad41707589d68ecdccd1dfa600d55a208f9310748e44bfe35b4a6291453d5e": "philz1337x/clarity-upscaler",
    "f74986db0355b58403ed20963af156525e2891ea3c2d499bfbfb2a28cd87c5d7": "men1scus/birefnet",
    "a029dff38972b5fda4ec5d75d7d1cd25aeff621d2cf4946a41055d7db66b80bc": "851-labs/background-remover",
}


def decode_image(value) -> Image.Image:
    """A base64 data URI's image; anything else is refused (the simulator fetches no URLs)."""
    if not isinstance(value, str) or not value.startswith("data:image/") or ";base64," not in value:
        raise ValueError("must be a base64 image data URI")
    try:
        image = Image.open(io.BytesIO(base64.b64decode(value.split(";base64,", 1)[1], validate=True)))
        image.load()
    except (binascii.Error, UnidentifiedImageError, OSError):
        raise ValueError("is not a readable image") from None
    return image


def check(contract: Contract, inputs) -> list[tuple[str, str]]:
    """(input name, message) for each way `inputs` breaks the contract."""
    if not isinstance(inputs, dict):
        return [("input", "must be an object")]
    errors = []
    if contract.prompt and not (isinstance(inputs.get("prompt"), str) and inputs["prompt"].strip()):
        errors.append(("prompt", "field required"))
    for name in (contract.image, contract.mask):
        if not name:
            continue
        values = inputs.get(name)
        if values is None and contract.image_optional and name == contract.image:
            continue
        if contract.image_list and name == contract.image:
            if not isinstance(values, list) or not values:
                errors.append((name, "must be a non-empty list of image URIs"))
                continue
        else:
            values = [values]
        for value in values:
            try:
                decode_image(value)
            except ValueError as error:
                errors.append((name, str(error)))
                break
    if contract.scale and inputs.get(contract.scale, contract.scales[0]) not in contract.scales:
        errors.append((contract.scale, f"must be one of {list(contract.scales)}"))
    if contract.duration and contract.duration in inputs and inputs[contract.duration] not in contract.durations:
        errors.append((contract.duration, f"must be one of {list(contract.durations)}"))
    if contract.aspect_ratios and inputs.get("aspect_ratio", contract.aspect_ratios[0]) not in contract.aspect_ratios:
        errors.append(("aspect_ratio", f"must be one of {list(contract.aspect_ratios)}"))
    return errors


def note(vendor: str, model: str, inputs: dict) -> None:
    shown = {}
    for name, value in inputs.items():
        if isinstance(value, list):
            value = [item.split(";")[0] if isinstance(item, str) and item.startswith("data:") else item
                     for item in value]
        elif isinstance(value, str) and value.startswith("data:"):
            value = value.split(";")[0]
        shown[name] = value
    knob_store.log(f"{vendor}:input {model} {json.dumps(shown, sort_keys=True)}")


def seconds_of(contract: Contract, inputs: dict) -> int:
    if not contract.duration or contract.duration not in inputs:
        return int(str(contract.durations[0]).rstrip("s")) if contract.durations else contract.fixed_seconds
    return int(str(inputs[contract.duration]).rstrip("s"))


def _photo(contract: Contract, inputs: dict) -> Image.Image:
    value = inputs[contract.image]
    return decode_image(value[0] if contract.image_list else value)


def make(contract: Contract, inputs: dict, seed: int) -> tuple[bytes, str, int, int]:
    """The model's one output: (bytes, content type, width, height). Blocking: run it off the loop."""
    if contract.is_video:
        if contract.task == "image-to-video":
            first = _photo(contract, inputs).convert("RGB")
        else:
            w, h = (int(part) for part in inputs.get("aspect_ratio", "16:9").split(":"))
            first = Image.open(io.BytesIO(picture(inputs.get("prompt", ""), seed, 64 * w, 64 * h))).convert("RGB")
        height = max(2, round(CLIP_WIDTH * first.height / first.width / 2) * 2)
        clip = motion.encode_mp4(first, width=CLIP_WIDTH, height=height, seconds=seconds_of(contract, inputs),
                                 fps=CLIP_FPS, seed=seed % 2**32)
        return clip, "video/mp4", CLIP_WIDTH, height
    if inputs.get(contract.image) is None:  # an optional photo left out: drawn from the prompt
        w, h = (int(part) for part in str(inputs.get("aspect_ratio") or "1:1").split(":"))
        content = picture(inputs.get("prompt", ""), seed, 64 * w, 64 * h)
        return content, "image/png", 64 * w, 64 * h
    photo = _photo(contract, inputs)
    if contract.task == "upscale":
        result = operations.upscale(photo.convert("RGB"), factor=int(inputs.get(contract.scale, contract.scales[0])))
    elif contract.task == "remove-background":
        result = operations.remove_background_grabcut(photo.convert("RGB"))
    else:
        result = Image.open(io.BytesIO(picture(inputs.get("prompt", ""), seed, photo.width, photo.height)))
    out = io.BytesIO()
    result.save(out, format="PNG")
    return out.getvalue(), "image/png", result.width, result.height
