"""The output checks every stored image already passed (decodes, not blank, right shape), as a judge."""

from PIL import Image

from apps.imaging.checks import blank_problem, shape_problem

from ..contract import FunctionJudge, ReviewRequest, Stage

_MESSAGES = {
    "blank": "The image is blank or a single colour.",
    "black": "The image is all black.",
    "shape": "The image is not the shape that was asked for.",
}


def format_judge(image: Image.Image, request: ReviewRequest, limits: dict) -> tuple[bool, float, str]:
    if request.expected_size and request.task not in ("upscale", "remove-background"):
        if shape_problem(image.size, request.expected_size, max_ratio_drift=limits["shape_drift_max"]):
            return False, 0.0, _MESSAGES["shape"]
    problem = blank_problem(image, min_stddev=3, min_mean=4)
    if problem:
        return False, 0.0, _MESSAGES["black" if "black" in problem else "blank"]
    return True, 1.0, f"A complete {image.width}×{image.height} image."


judge = FunctionJudge(name="format", label="Format", stage=Stage.QUALITY, function=format_judge)
