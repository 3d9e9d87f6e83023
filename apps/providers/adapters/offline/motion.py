"""Short clips from one photo: a slow zoom and pan across it ("Ken Burns"), with a gently
faster-moving centre for a little depth (parallax) and a fade out at the end.

Not AI: the seed picks where the camera starts and ends and whether it zooms in or out; the
same photo, size, length and seed give the same frames, and the encoder (x264 with a fixed
thread count) turns the same frames into the same H.264 MP4 bytes.
"""

import collections
import hashlib
import io
import math
import os
import queue
import random
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Headroom for the camera: the source is prepared this much larger than the frame.
SOURCE_SCALE = 1.3
ZOOM_RANGE = (1.0, 1.16)
# How much faster the centre drifts than the background, as a share of the frame.
PARALLAX = 0.018
FADE_SECONDS = 0.3
BATCH_FRAMES = 12
# One encoder thread: x264's frame threads make its output vary from run to run. The frames are
# drawn on a second thread meanwhile, so both cores still work.
ENCODER_THREADS = 1
QUEUE_FRAMES = 8
IN_FLIGHT_FRAMES = 32
# x264's macroblock tree reads memory it has not written yet in some cases, so the same frames
# could come out as different bytes from one encode to the next: off, for repeatable clips.
X264_OPTIONS = {"x264-params": "mbtree=0"}
PREVIEW_EDGE = 256


@dataclass(frozen=True)
class Path:
    zoom_from: float
    zoom_to: float
    pan_from: tuple[float, float]  # centre of the view, 0..1 of the source
    pan_to: tuple[float, float]
    drift: tuple[float, float]  # direction the centre layer drifts


def camera_path(seed: int, *, photo_digest: str) -> Path:
    rng = random.Random(hashlib.sha256(f"motion|{seed}|{photo_digest}".encode()).digest())
    zoom_in = rng.random() < 0.6
    low, high = ZOOM_RANGE
    zoom_from, zoom_to = (low, high) if zoom_in else (high, low)

    def point() -> tuple[float, float]:
        return 0.5 + rng.uniform(-0.08, 0.08), 0.5 + rng.uniform(-0.06, 0.06)

    angle = rng.random() * 2 * math.pi
    return Path(zoom_from, zoom_to, point(), point(), (math.cos(angle), math.sin(angle)))


def _ease(t: float) -> float:
    return t * t * (3 - 2 * t)


def _cover(photo: Image.Image, width: int, height: int) -> Image.Image:
    """The photo cropped to the frame's shape and scaled to SOURCE_SCALE × the frame."""
    photo = photo.convert("RGB")
    target = width / height
    if photo.width / photo.height > target:
        crop_w = round(photo.height * target)
        photo = photo.crop(((photo.width - crop_w) // 2, 0, (photo.width - crop_w) // 2 + crop_w, photo.height))
    else:
        crop_h = round(photo.width / target)
        photo = photo.crop((0, (photo.height - crop_h) // 2, photo.width, (photo.height - crop_h) // 2 + crop_h))
    return photo.resize((round(width * SOURCE_SCALE), round(height * SOURCE_SCALE)), Image.Resampling.LANCZOS)


def _centre_mask(width: int, height: int) -> Image.Image:
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).ellipse((width * 0.22, height * 0.18, width * 0.78, height * 0.82), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(radius=min(width, height) / 9))


def _view(source: Image.Image, *, zoom: float, centre: tuple[float, float], size: tuple[int, int],
          region: tuple[int, int, int, int] | None = None) -> Image.Image:
    """The part of `source` a camera at `centre` with `zoom` sees, resampled to `size` (or only the
    `region` of that frame)."""
    sw, sh = source.size
    # At zoom 1 the view is the frame's size in the source's pixels; it never leaves the source.
    view_w, view_h = sw / SOURCE_SCALE / zoom, sh / SOURCE_SCALE / zoom
    cx = min(max(centre[0] * sw, view_w / 2), sw - view_w / 2)
    cy = min(max(centre[1] * sh, view_h / 2), sh - view_h / 2)
    scale_x, scale_y = view_w / size[0], view_h / size[1]
    left, top, right, bottom = region or (0, 0, *size)
    x0, y0 = cx - view_w / 2, cy - view_h / 2
    box = (x0 + left * scale_x, y0 + top * scale_y, x0 + right * scale_x, y0 + bottom * scale_y)
    return source.resize((right - left, bottom - top), Image.Resampling.BILINEAR, box=box)


def frames(photo: Image.Image, *, width: int, height: int, seconds: float, fps: int, seed: int) -> Iterator[Image.Image]:
    digest = hashlib.sha256(photo.tobytes()).hexdigest()
    path = camera_path(seed, photo_digest=digest)
    source = _cover(photo, width, height)
    mask = _centre_mask(width, height)
    region = mask.getbbox() or (0, 0, width, height)
    region_mask = mask.crop(region)
    count = max(1, round(seconds * fps))
    fade_frames = max(1, round(FADE_SECONDS * fps))
    black = Image.new("RGB", (width, height))
    for index in range(count):
        t = _ease(index / max(1, count - 1))
        zoom = path.zoom_from + (path.zoom_to - path.zoom_from) * t
        centre = tuple(a + (b - a) * t for a, b in zip(path.pan_from, path.pan_to, strict=True))
        frame = _view(source, zoom=zoom, centre=centre, size=(width, height))
        # The centre layer zooms a little more and drifts further: it reads as nearer.
        near = (centre[0] + path.drift[0] * PARALLAX * t, centre[1] + path.drift[1] * PARALLAX * t)
        foreground = _view(source, zoom=zoom * (1 + 0.03 * t), centre=near, size=(width, height), region=region)
        frame.paste(foreground, region[:2], region_mask)
        left = count - index
        if left <= fade_frames:
            frame = Image.blend(black, frame, (left - 1) / fade_frames * 0.7 + 0.3)
        yield frame


def _drawn(photo: Image.Image, *, width: int, height: int, seconds: float, fps: int, seed: int,
           stop: threading.Event) -> Iterator[tuple[Image.Image, av.VideoFrame]]:
    """The frames, drawn and converted to YUV on a worker thread, in order."""
    frames_queue: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
    done = object()

    def draw():
        try:
            for image in frames(photo, width=width, height=height, seconds=seconds, fps=fps, seed=seed):
                if stop.is_set():
                    return
                pixels = np.asarray(image)  # held until converted: the RGB frame may borrow its memory
                converted = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
                del pixels
                frames_queue.put((image, converted))
            frames_queue.put(done)
        except BaseException as error:  # handed to the encoding thread
            frames_queue.put(error)

    worker = threading.Thread(target=draw, name="motion-frames", daemon=True)
    worker.start()
    try:
        while (item := frames_queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a worker waiting on a full queue
            try:
                frames_queue.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()


def encode_mp4(
    photo: Image.Image, *, width: int, height: int, seconds: float, fps: int, seed: int,
    on_batch: Callable[[int, int, Image.Image], bool] | None = None,
) -> bytes | None:
    """The clip as H.264 MP4 bytes (yuv420p, fast start, so browsers play it while it loads).

    `on_batch(done, total, frame)` is called every BATCH_FRAMES frames; returning False stops
    the encode (canceled) and the function returns None."""
    total = max(1, round(seconds * fps))
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="darkroom-motion-") as folder:
        path = os.path.join(folder, "clip.mp4")
        # The muxer moves the index to the front by re-reading its file: it needs a real one.
        with av.open(path, mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=fps, options={
                "preset": "veryfast", "crf": "22", "tune": "film", **X264_OPTIONS,
            })
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.thread_count = ENCODER_THREADS
            time_base = Fraction(1, fps)  # frames are timed in this, one tick a frame
            drawn = _drawn(photo, width=width, height=height, seconds=seconds, fps=fps, seed=seed, stop=stop)
            # The encoder still reads a frame's planes after `encode` returns it (lookahead, B-frames);
            # the frames it may still hold stay alive until the flush, or it reads freed memory.
            in_flight: collections.deque = collections.deque(maxlen=IN_FLIGHT_FRAMES)
            try:
                for index, (image, frame) in enumerate(drawn):
                    in_flight.append(frame)
                    frame.pts, frame.time_base = index, time_base
                    container.mux(stream.encode(frame))
                    finished = index + 1
                    if on_batch is not None and (finished % BATCH_FRAMES == 0 or finished == total):
                        if on_batch(finished, total, image) is False:
                            return None
            finally:
                drawn.close()  # stops and joins the drawing thread, whatever happened
            container.mux(stream.encode(None))
            in_flight.clear()
        with open(path, "rb") as file:
            return file.read()


def preview_jpeg(frame: Image.Image) -> bytes:
    small = frame.copy()
    small.thumbnail((PREVIEW_EDGE, PREVIEW_EDGE))
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=70)
    return out.getvalue()
