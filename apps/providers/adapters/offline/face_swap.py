"""The offline face swap route: Darkroom's classical swap (apps/imaging/face_swap.py) as an engine
model, so face swap works on a server with no provider keys."""

import io
import time

from PIL import Image, UnidentifiedImageError

from apps.imaging import face_swap
from apps.providers.exceptions import ProviderError, ProviderRejectedError
from apps.providers.face_swap import NO_FACE_CODE, no_face_message
from apps.providers.types import GenerationRequest, JobState, ProgressCallback, ProviderOutput, ProviderStatus

from . import renderer

MODEL = "face-swap-classical-v1"


class NoFaceError(ProviderRejectedError):
    """A photo shows no face: the user's input, so no retry and no other route helps."""

    code = NO_FACE_CODE


class FaceSwapUnavailableError(ProviderError):
    code = "engine_failure"
    default_message = "Face swap is not available on this server right now. You were not charged."


def _open(content: bytes | None, which: str) -> Image.Image:
    if not content:
        raise ProviderRejectedError(f"Face swap needs the {which}. You were not charged.")
    try:
        image = Image.open(io.BytesIO(content))
        image.load()
    except (UnidentifiedImageError, OSError):
        raise ProviderRejectedError(f"The {which} could not be read. You were not charged.") from None
    return image


def run(request: GenerationRequest, *, on_progress: ProgressCallback) -> ProviderStatus:
    """The request's photo is the target; its first reference image is the face to put on it."""
    started = time.monotonic()
    target = _open(request.image, "photo")
    face = _open(request.references[0] if request.references else None, "face photo")
    on_progress(ProviderStatus(state=JobState.RUNNING, progress=0.3))
    try:
        result = face_swap.face_swap(target, face)
    except face_swap.NoFaceFoundError as error:
        raise NoFaceError(no_face_message(error.which), extra={"photo": error.which}) from None
    except face_swap.FaceDetectorMissingError as error:
        raise FaceSwapUnavailableError(extra={"reason": str(error)}) from None
    return ProviderStatus(
        state=JobState.SUCCEEDED, progress=1.0, predict_seconds=time.monotonic() - started,
        outputs=(ProviderOutput(content=renderer.png_bytes(result), content_type="image/png"),),
    )
