"""Classical face swap: no model weights, no network — OpenCV's bundled Haar cascade finds the
largest frontal face in each photo, the face is resized onto the target's face box, its colours
are matched to the target's skin (mean and spread per channel in Lab), and Poisson blending
(`cv2.seamlessClone`, solved at a capped resolution and scaled back up) through an elliptical
mask hides the seam.

It is a stand-in that works on any server, not a generative swap: it moves pixels, it does not
re-light or re-pose a face.
"""

import os
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
from PIL import Image

from .operations import OperationError

CASCADE = "haarcascade_frontalface_default.xml"
DETECT_EDGE = 800  # detection runs on a copy at most this long: faster, and as good for big faces
PAD = 0.12  # the Haar box stops at the brows and the chin: take a little more around it
BLEND_EDGE = 256  # the Poisson solve runs at most this many pixels across (see _poisson_blend)


class NoFaceFoundError(OperationError):
    """A photo in which no face could be found: the user's input, not a failure of ours."""

    def __init__(self, which: str):
        self.which = which
        super().__init__(f"No face found in the {which}. Use a clear, front-facing photo of a face.")


class FaceDetectorMissingError(OperationError):
    """The installed OpenCV ships no face cascade (a broken install, not the user's input)."""


@dataclass(frozen=True)
class FaceBox:
    x: int
    y: int
    width: int
    height: int

    @property
    def area(self) -> int:
        return self.width * self.height


@cache
def _detector() -> cv2.CascadeClassifier:
    path = os.path.join(getattr(getattr(cv2, "data", None), "haarcascades", ""), CASCADE)
    classifier = cv2.CascadeClassifier(path) if os.path.exists(path) else None
    if classifier is None or classifier.empty():
        raise FaceDetectorMissingError(f"the OpenCV face cascade {CASCADE} is not installed")
    return classifier


def detect_largest_face(image: Image.Image) -> FaceBox | None:
    """The largest frontal face in the image, in its own pixel coordinates, or None."""
    grey = np.asarray(image.convert("L"))
    scale = min(1.0, DETECT_EDGE / max(grey.shape))
    if scale < 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    grey = cv2.equalizeHist(grey)
    smallest = max(24, min(grey.shape) // 12)
    found = _detector().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(smallest, smallest))
    if len(found) == 0:
        return None
    x, y, w, h = max(found, key=lambda box: box[2] * box[3])
    return FaceBox(round(x / scale), round(y / scale), round(w / scale), round(h / scale))


def _padded(box: FaceBox, size: tuple[int, int]) -> FaceBox:
    """The box grown by PAD on each side, kept inside the image."""
    width, height = size
    pad_x, pad_y = round(box.width * PAD), round(box.height * PAD)
    x0, y0 = max(0, box.x - pad_x), max(0, box.y - pad_y)
    x1, y1 = min(width, box.x + box.width + pad_x), min(height, box.y + box.height + pad_y)
    return FaceBox(x0, y0, x1 - x0, y1 - y0)


def _ellipse_mask(width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    # Inset from the patch's border: seamlessClone needs a margin around what it blends.
    axes = (max(1, width // 2 - 3), max(1, height // 2 - 3))
    cv2.ellipse(mask, (width // 2, height // 2), axes, 0, 0, 360, 255, thickness=-1)
    return mask


def _match_colours(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift the source's Lab channels to the target's mean and spread inside the mask
    (Reinhard-style transfer), so the pasted face takes the target's skin tone and light."""
    inside = mask > 0
    src = cv2.cvtColor(source, cv2.COLOR_RGB2LAB).astype(np.float32)
    dst = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    for channel in range(3):
        s, d = src[..., channel][inside], dst[..., channel][inside]
        gain = d.std() / max(s.std(), 1e-3)
        src[..., channel] = (src[..., channel] - s.mean()) * min(gain, 3.0) + d.mean()
    return cv2.cvtColor(np.clip(src, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def _feathered_paste(target: np.ndarray, patch: np.ndarray, mask: np.ndarray, box: FaceBox,
                     *, sigma: float | None = None) -> np.ndarray:
    """Alpha blending through a blurred mask."""
    sigma = sigma if sigma is not None else max(1.0, box.width / 20)
    soft = cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma).astype(np.float32)[..., None] / 255
    out = target.copy()
    region = out[box.y:box.y + box.height, box.x:box.x + box.width].astype(np.float32)
    out[box.y:box.y + box.height, box.x:box.x + box.width] = (patch * soft + region * (1 - soft)).astype(np.uint8)
    return out


def _clone_at(patch: np.ndarray, dest: np.ndarray, mask: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
    """seamlessClone with the patch's top-left corner at `origin` in `dest` (OpenCV places the
    centre of the mask's bounding box; work back from the corner so nothing shifts a pixel)."""
    x, y, width, height = cv2.boundingRect(mask)
    centre = (origin[0] + x + width // 2, origin[1] + y + height // 2)
    return cv2.seamlessClone(patch, dest, mask, centre, cv2.NORMAL_CLONE)


def _poisson_blend(base: np.ndarray, patch: np.ndarray, mask: np.ndarray, box: FaceBox) -> np.ndarray:
    """Poisson blending of the patch into the box. The Poisson solve grows fast with size, so big
    faces are solved at most BLEND_EDGE pixels across: what blending adds to the patch is a smooth
    membrane, which scales back up losslessly enough, and is added to the full-size patch."""
    edge = max(box.width, box.height)
    scale = min(1.0, BLEND_EDGE / edge)
    margin = max(4, round(edge * 0.1))
    height, width = base.shape[:2]
    x0, y0 = max(0, box.x - margin), max(0, box.y - margin)
    x1, y1 = min(width, box.x + box.width + margin), min(height, box.y + box.height + margin)
    roi = base[y0:y1, x0:x1]
    small = (max(8, round(box.width * scale)), max(8, round(box.height * scale)))
    roi_small = cv2.resize(roi, (max(small[0], round((x1 - x0) * scale)), max(small[1], round((y1 - y0) * scale))),
                           interpolation=cv2.INTER_AREA)
    patch_small = cv2.resize(patch, small, interpolation=cv2.INTER_AREA)
    mask_small = _ellipse_mask(*small)
    ox = min(round((box.x - x0) * scale), roi_small.shape[1] - small[0])
    oy = min(round((box.y - y0) * scale), roi_small.shape[0] - small[1])
    cloned = _clone_at(cv2.cvtColor(patch_small, cv2.COLOR_RGB2BGR), cv2.cvtColor(roi_small, cv2.COLOR_RGB2BGR),
                       mask_small, (ox, oy))
    blended = cv2.cvtColor(cloned, cv2.COLOR_BGR2RGB)
    correction = blended[oy:oy + small[1], ox:ox + small[0]].astype(np.float32) - patch_small.astype(np.float32)
    correction = cv2.resize(correction, (box.width, box.height), interpolation=cv2.INTER_LINEAR)
    corrected = np.clip(patch.astype(np.float32) + correction, 0, 255).astype(np.uint8)
    # Inside the ellipse the corrected patch already meets the photo at its rim: a narrow feather
    # only hides the resampling's last pixel.
    return _feathered_paste(base, corrected, mask, box, sigma=1.5)


def face_swap(target: Image.Image, face: Image.Image) -> Image.Image:
    """The target photo with the largest face of `face` blended onto its largest face.

    Raises NoFaceFoundError naming the photo ("photo" or "face photo") that shows no face."""
    target_box = detect_largest_face(target)
    if target_box is None:
        raise NoFaceFoundError("photo")
    face_box = detect_largest_face(face)
    if face_box is None:
        raise NoFaceFoundError("face photo")
    alpha = target.getchannel("A") if "A" in target.getbands() else None
    base = np.asarray(target.convert("RGB"))
    source = np.asarray(face.convert("RGB"))
    box = _padded(target_box, target.size)
    src_box = _padded(face_box, face.size)
    crop = source[src_box.y:src_box.y + src_box.height, src_box.x:src_box.x + src_box.width]
    patch = cv2.resize(crop, (box.width, box.height), interpolation=cv2.INTER_AREA
                       if crop.shape[1] > box.width else cv2.INTER_CUBIC)
    mask = _ellipse_mask(box.width, box.height)
    region = base[box.y:box.y + box.height, box.x:box.x + box.width]
    patch = _match_colours(patch, region, mask)
    try:
        result = _poisson_blend(base, patch, mask, box)
    except cv2.error:
        # A face against the photo's edge leaves Poisson blending no border to work with.
        result = _feathered_paste(base, patch, mask, box)
    out = Image.fromarray(result)
    if alpha is not None:
        out = out.convert("RGBA")
        out.putalpha(alpha)
    return out
