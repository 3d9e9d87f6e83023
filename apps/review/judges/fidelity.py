"""Edit fidelity, against the source photo: an inpaint keeps what is outside its mask and changes
what is inside; a cut-out has a clean alpha matte; an upscale shrunk back matches its source."""

import numpy as np
from PIL import Image

from ..contract import FunctionJudge, ReviewRequest, Stage, TaskKind
from .pixels import WORK_EDGE, resized_grey, ssim_map


def _work_size(image: Image.Image) -> tuple[int, int]:
    scale = min(1.0, WORK_EDGE / max(image.size))
    return max(1, round(image.width * scale)), max(1, round(image.height * scale))


def _inpaint(image: Image.Image, request: ReviewRequest, limits: dict) -> tuple[bool, float, str]:
    size = _work_size(image)
    out, src = resized_grey(image, size), resized_grey(request.source, size)
    inside = resized_grey(request.mask, size) >= 128
    outside = ~inside
    similarity = float(ssim_map(out, src)[outside].mean()) if outside.any() else 1.0
    change = float(np.abs(out - src)[inside].mean() / 255) if inside.any() else 0.0
    score = round(max(0.0, similarity), 4)
    if similarity < limits["outside_ssim_min"]:
        return False, score, "Parts of the photo outside the masked area were changed."
    if inside.any() and change < limits["inside_change_min"]:
        return False, score, "The masked area looks the same as before: nothing was changed there."
    return True, score, "The masked area was changed and the rest of the photo kept."


def _cutout(image: Image.Image, request: ReviewRequest, limits: dict) -> tuple[bool, float, str]:
    if image.mode != "RGBA":
        return False, 0.0, "The background was not removed: the image has no transparency."
    alpha = np.asarray(image.getchannel("A"), dtype=np.uint8)
    clear, solid = float(np.mean(alpha <= 8)), float(np.mean(alpha >= 247))
    soft = 1.0 - clear - solid
    score = round(max(0.0, 1.0 - soft / max(limits["matte_soft_max"] * 2, 1e-6)), 4)
    if clear < 0.02:
        return False, score, "The background was not removed: almost nothing is transparent."
    if solid < 0.02:
        return False, score, "The subject was lost: almost nothing is left opaque."
    if soft > limits["matte_soft_max"]:
        return False, score, "The cut-out edge is ragged: too much of the image is half-transparent."
    return True, score, "A clean cut-out: the subject is solid and the background transparent."


def _upscale(image: Image.Image, request: ReviewRequest, limits: dict) -> tuple[bool, float, str]:
    size = _work_size(request.source)
    similarity = float(ssim_map(resized_grey(image, size), resized_grey(request.source, size)).mean())
    score = round(max(0.0, similarity), 4)
    if similarity < limits["upscale_ssim_min"]:
        return False, score, "The enlarged image does not match the original photo."
    return True, score, "The enlarged image matches the original photo."


def fidelity_judge(image: Image.Image, request: ReviewRequest, limits: dict) -> tuple[bool, float, str]:
    if request.source is None:
        return True, 1.0, "Nothing to compare with: no source photo."
    if request.task == TaskKind.REMOVE_BACKGROUND:
        return _cutout(image, request, limits)
    if request.task == TaskKind.UPSCALE:
        return _upscale(image, request, limits)
    if request.task == TaskKind.INPAINT and request.mask is not None:
        return _inpaint(image, request, limits)
    return True, 1.0, "Nothing to compare with: no mask."


judge = FunctionJudge(name="fidelity", label="Edit fidelity", stage=Stage.QUALITY, function=fidelity_judge)
