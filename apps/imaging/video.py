"""Checking a video someone's model made, by decoding it, and taking its poster frame.

A video output is accepted only if every frame decodes: the container is sniffed from the bytes
(MP4 or WebM, nothing else is handed to the demuxer), the video stream must use a codec browsers
play (H.264, VP8, VP9, AV1), and the decoded frames must cover the length the container declares
(a truncated file decodes to fewer). Length, pixel count and byte size are bounded before and
while decoding, so a huge or endless stream is refused without being decoded to the end.
"""

import io
from dataclasses import dataclass
from fractions import Fraction

import av
from django.conf import settings
from PIL import Image

from .exceptions import ImagingError

# Codecs every current browser's <video> plays in the containers below.
PLAYABLE_CODECS = {"h264", "vp8", "vp9", "av1"}
CONTENT_TYPES = {"mp4": "video/mp4", "webm": "video/webm"}
# A decoded length this far short of the declared one means frames are missing.
MIN_DECODED_SHARE = 0.9


class VideoError(ImagingError):
    code = "invalid_video"
    default_message = "This video can't be used."


class UnsupportedVideoError(VideoError):
    code = "unsupported_video"
    default_message = "This file is not an MP4 or WebM video in a format browsers play."


class CorruptVideoError(VideoError):
    code = "video_corrupt"
    default_message = "The video is damaged or incomplete and could not be read."


class VideoTooLargeError(VideoError):
    code = "video_too_large"
    http_status = 413


@dataclass(frozen=True)
class VideoInfo:
    container: str  # mp4 or webm
    content_type: str
    codec: str
    width: int
    height: int
    duration_seconds: float
    frames: int
    fps: float
    poster: Image.Image  # the first frame, RGB


def sniff_container(content: bytes) -> str | None:
    """mp4 (an ISO BMFF `ftyp` box first) or webm (an EBML header), from the first bytes."""
    if len(content) >= 12 and content[4:8] == b"ftyp":
        return "mp4"
    if content[:4] == b"\x1a\x45\xdf\xa3" and b"webm" in content[:64]:
        return "webm"
    return None


def is_video(content: bytes) -> bool:
    return sniff_container(content) is not None


def video_validate(content: bytes, *, max_bytes: int | None = None, max_seconds: float | None = None,
                   max_pixels: int | None = None) -> VideoInfo:
    """Decode the whole video once and describe it, or raise a VideoError saying what is wrong."""
    max_bytes = max_bytes or settings.PROVIDER_FETCH_MAX_BYTES
    max_seconds = max_seconds or settings.VIDEO_MAX_SECONDS
    max_pixels = max_pixels or settings.VIDEO_MAX_PIXELS
    if len(content) > max_bytes:
        raise VideoTooLargeError(f"The video is too large: the limit is {max_bytes / 1024 / 1024:g} MB.")
    container_name = sniff_container(content)
    if container_name is None:
        raise UnsupportedVideoError()
    try:
        with av.open(io.BytesIO(content), mode="r", format="mp4" if container_name == "mp4" else "webm") as container:
            return _decode(container, container_name, max_seconds=max_seconds, max_pixels=max_pixels)
    except av.FFmpegError:
        raise CorruptVideoError() from None


def _decode(container, container_name: str, *, max_seconds: float, max_pixels: int) -> VideoInfo:
    if not container.streams.video:
        raise UnsupportedVideoError("The file has no video in it.")
    stream = container.streams.video[0]
    codec = stream.codec_context.name
    if codec not in PLAYABLE_CODECS:
        raise UnsupportedVideoError()
    width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height:
        raise CorruptVideoError()
    if width * height > max_pixels:
        raise VideoTooLargeError(f"The video is {width}×{height}: the limit is {max_pixels / 1_000_000:g} MP a frame.")
    declared = _declared_seconds(container, stream)
    if declared is not None and declared > max_seconds + 0.5:
        raise VideoTooLargeError(f"The video is {declared:.1f} s long: the limit is {max_seconds:g} s.")
    time_base = stream.time_base or Fraction(1, 1000)
    frames, first_pts, last_end, poster = 0, None, 0.0, None
    for frame in container.decode(stream):
        if (frame.width, frame.height) != (width, height):
            raise UnsupportedVideoError("The video changes size midway.")
        pts = frame.pts if frame.pts is not None else frames
        if first_pts is None:
            first_pts = pts
            poster = frame.to_image().convert("RGB")
        seconds = float((pts - first_pts) * time_base)
        frame_length = float(frame.duration * time_base) if frame.duration else 0.0
        last_end = max(last_end, seconds + frame_length)
        frames += 1
        if seconds > max_seconds + 0.5:
            raise VideoTooLargeError(f"The video is longer than the {max_seconds:g} s limit.")
    if frames == 0 or poster is None:
        raise CorruptVideoError()
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else frames / max(last_end, 1e-6)
    decoded = max(last_end, frames / fps if fps else 0.0)
    if declared is not None and decoded < declared * MIN_DECODED_SHARE:
        raise CorruptVideoError()
    duration = declared if declared is not None else decoded
    return VideoInfo(
        container=container_name, content_type=CONTENT_TYPES[container_name], codec=codec, width=width,
        height=height, duration_seconds=round(duration, 3), frames=frames, fps=round(fps, 3), poster=poster,
    )


def _declared_seconds(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def poster_png(info: VideoInfo) -> bytes:
    """The first frame as PNG bytes, for the image derivatives (preview, thumbnail, BlurHash)."""
    out = io.BytesIO()
    info.poster.save(out, format="PNG", compress_level=1)
    return out.getvalue()
