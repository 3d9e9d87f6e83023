"""The classical face swap: Haar-cascade detection on drawn portraits, then resize, colour match
and Poisson blending of the face photo's face onto the photo's face."""

import numpy as np
import pytest
from PIL import Image

from apps.imaging.face_swap import NoFaceFoundError, detect_largest_face, face_swap
from tests.media.images import photo

from .faces import other_face, portrait


def _mean(image: Image.Image, box) -> np.ndarray:
    return np.asarray(image.convert("RGB").crop(box), dtype=np.float32).reshape(-1, 3).mean(axis=0)


def test_the_drawn_portraits_are_detected_and_a_plain_photo_is_not():
    target = portrait(640, 480, centre=(300, 250), scale=0.8)
    box = detect_largest_face(target)
    assert box is not None
    # Around the drawn head (centre 300,250; 176 px wide at this scale), not somewhere else.
    assert abs(box.x + box.width / 2 - 300) < 40 and abs(box.y + box.height / 2 - 250) < 60
    assert detect_largest_face(other_face()) is not None
    assert detect_largest_face(photo(640, 480)) is None


def test_the_largest_face_wins():
    image = portrait(800, 500, centre=(560, 250), scale=0.9)
    small = portrait(240, 240, background=(90, 120, 160))
    image.paste(small, (20, 130))
    box = detect_largest_face(image)
    assert box is not None and box.x > 300  # the big face on the right, not the small one


def test_the_face_lands_on_the_photo_and_the_rest_stays():
    target = portrait(640, 480, centre=(300, 250), scale=0.8)
    face = other_face()  # light hair, darker skin
    result = face_swap(target, face)
    assert result.size == target.size and result.mode == "RGB"
    box = detect_largest_face(target)
    # The hair band at the top of the face box was dark; the face photo's light hair now shows there.
    band = (box.x + box.width // 3, box.y, box.x + 2 * box.width // 3, box.y + box.height // 8)
    assert _mean(result, band).mean() > _mean(target, band).mean() + 40
    # Far from the face nothing moved.
    corner = (0, 0, 40, 40)
    assert np.abs(_mean(result, corner) - _mean(target, corner)).max() < 2
    # And the output still shows a face where the photo had one.
    assert detect_largest_face(result) is not None


def test_transparency_of_the_photo_is_kept():
    target = portrait(400, 400).convert("RGBA")
    alpha = Image.new("L", target.size, 255)
    alpha.paste(0, (0, 0, 30, 30))
    target.putalpha(alpha)
    result = face_swap(target, other_face())
    assert result.mode == "RGBA" and result.getchannel("A").getpixel((5, 5)) == 0


@pytest.mark.parametrize(("which", "images"), [
    ("photo", lambda: (photo(320, 240), other_face())),
    ("face photo", lambda: (portrait(), photo(320, 240))),
])
def test_a_photo_without_a_face_is_named(which, images):
    with pytest.raises(NoFaceFoundError) as caught:
        face_swap(*images())
    assert caught.value.which == which
    assert str(caught.value).startswith(f"No face found in the {which}.")


def test_a_face_that_fills_the_photo_to_its_edges_is_still_swapped():
    target = portrait(300, 320, scale=1.2)
    box = detect_largest_face(target)
    assert box is not None and box.x < 20 and box.width > 250  # padded, the box reaches every edge
    result = face_swap(target, other_face())
    assert result.size == target.size and result.tobytes() != target.tobytes()
