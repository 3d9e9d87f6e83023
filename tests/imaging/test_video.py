"""Checking a video by decoding it whole: real MP4 and WebM clips described from their frames,
damaged, too long, too big or too many pixels refused."""

import io

import av
import pytest
from PIL import Image

from apps.imaging import video
from apps.providers.adapters.offline import motion
from tests.media.images import photo_bytes


def picture(width=480, height=360) -> Image.Image:
    return Image.open(io.BytesIO(photo_bytes(width, height, "PNG"))).convert("RGB")


@pytest.fixture(scope="module")
def clip() -> bytes:
    """A real 2 s, 320×240 H.264 MP4 from the offline motion engine."""
    return motion.encode_mp4(picture(), width=320, height=240, seconds=2, fps=24, seed=5)


def webm_clip(seconds=1, width=160, height=120, fps=12) -> bytes:
    out = io.BytesIO()
    with av.open(out, mode="w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index, frame in enumerate(motion.frames(picture(), width=width, height=height, seconds=seconds,
                                                     fps=fps, seed=1)):
            video_frame = av.VideoFrame.from_image(frame)
            video_frame.pts = index
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def decoded_frames(content: bytes) -> list[Image.Image]:
    with av.open(io.BytesIO(content)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def test_a_real_mp4_is_described_from_its_decoded_frames(clip):
    info = video.video_validate(clip)
    assert (info.container, info.content_type, info.codec) == ("mp4", "video/mp4", "h264")
    assert (info.width, info.height, info.frames, info.fps, info.duration_seconds) == (320, 240, 48, 24.0, 2.0)
    assert info.poster.size == (320, 240)
    assert info.poster.tobytes() == decoded_frames(clip)[0].convert("RGB").tobytes()


def test_a_webm_is_accepted_too():
    info = video.video_validate(webm_clip())
    assert (info.container, info.content_type, info.codec, info.frames) == ("webm", "video/webm", "vp9", 12)


@pytest.mark.parametrize("damage", ["truncated", "header_only", "garbled", "not_a_video"])
def test_a_damaged_file_is_refused(clip, damage):
    content = {
        "truncated": clip[: len(clip) * 6 // 10],
        "header_only": clip[:64],
        "garbled": clip[:4096] + bytes(len(clip) - 4096),
        "not_a_video": photo_bytes(64, 48, "PNG"),
    }[damage]
    with pytest.raises(video.VideoError) as raised:
        video.video_validate(content)
    assert raised.value.code in ("video_corrupt", "unsupported_video")


def test_a_clip_too_long_too_big_or_too_many_pixels_is_refused(clip, settings):
    settings.VIDEO_MAX_SECONDS = 1
    with pytest.raises(video.VideoTooLargeError, match="2.0 s long: the limit is 1 s"):
        video.video_validate(clip)
    settings.VIDEO_MAX_SECONDS = 60
    with pytest.raises(video.VideoTooLargeError, match="too large"):
        video.video_validate(clip, max_bytes=len(clip) - 1)
    settings.VIDEO_MAX_PIXELS = 320 * 240 - 1
    with pytest.raises(video.VideoTooLargeError, match="320×240"):
        video.video_validate(clip)
