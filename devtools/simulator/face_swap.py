"""The simulated vendors' face-swap models: inputs arrive as data URIs (what Darkroom sends) and
the answer is a real swapped image, made with Darkroom's classical swap, so a test over HTTP sees
the face of the second photo land on the first. A photo without a face fails the job, as the
hosted models do."""

import base64
import binascii
import io

from PIL import Image, UnidentifiedImageError

from apps.imaging import face_swap
from apps.providers.adapters.offline import renderer


class FaceSwapInputError(ValueError):
    pass


def decode(value, name: str) -> bytes:
    """A data: URI's bytes; anything else is refused (the simulator fetches no URLs)."""
    if not isinstance(value, str) or not value.startswith("data:") or ";base64," not in value:
        raise FaceSwapInputError(f"{name} must be a base64 data URI")
    try:
        return base64.b64decode(value.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise FaceSwapInputError(f"{name} is not valid base64") from None


def swap(target: bytes, face: bytes) -> tuple[bytes | None, str]:
    """(PNG bytes, "") or (None, the error a hosted model would report)."""
    try:
        images = [Image.open(io.BytesIO(content)) for content in (target, face)]
        for image in images:
            image.load()
    except (UnidentifiedImageError, OSError):
        return None, "cannot identify image file"
    try:
        return renderer.png_bytes(face_swap.face_swap(*images)), ""
    except face_swap.NoFaceFoundError as error:
        which = "target image" if error.which == "photo" else "swap image"
        return None, f"No face detected in the {which}"
