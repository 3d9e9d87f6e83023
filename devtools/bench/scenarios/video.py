"""Video: the offline motion engine's 4 s 720p H.264 clip from a photo (goal: median ≤ 6 s on
this 2-core machine), and checking a clip by decoding it whole (`apps.imaging.video.video_validate`).

Runs in its own process (no database). The clip is the one a generation makes: 96 frames at
24 fps, drawn on one thread while x264 encodes on the other. The row also gives CPU seconds per
clip, the file size and frames per second.
"""

import statistics
import time

from devtools.bench.scenarios import latency_summary, row
from devtools.bench.scenarios._inproc import child_main, peak_rss_mb, run_child

NAME = "video"
ORDER = 65
GOAL_SECONDS = 6.0


def run(ctx) -> list[dict]:
    return run_child(ctx, "devtools.bench.scenarios.video")


def measure(quick: bool) -> list[dict]:
    from PIL import Image

    from apps.imaging import video
    from apps.providers.adapters.offline import motion
    from devtools.bench.scenarios.derivatives import photo_like

    photo = photo_like(1600).resize((1600, 1000), Image.Resampling.BILINEAR)
    runs = 2 if quick else 5
    motion.encode_mp4(photo, width=640, height=360, seconds=0.5, fps=24, seed=0)  # warm-up: codec load
    wall, cpu, clip = [], [], b""
    for seed in range(runs):
        cpu_started, started = time.process_time(), time.perf_counter()
        clip = motion.encode_mp4(photo, width=1280, height=720, seconds=4, fps=24, seed=seed)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    summary = latency_summary(wall)
    rows = [row(
        "offline motion: 4 s 720p H.264 clip", target=f"median ≤ {GOAL_SECONDS:g} s", **summary,
        throughput=round(96 / statistics.median(wall), 1), throughput_unit="frames/s",
        peak_rss_mb=peak_rss_mb(), met=summary["median_ms"] <= GOAL_SECONDS * 1000,
        detail=f"{runs} runs; CPU {statistics.median(cpu):.2f} s/clip; {len(clip) // 1024} KiB",
    )]
    checks = []
    for _ in range(runs * 2):
        started = time.perf_counter()
        video.video_validate(clip)
        checks.append(time.perf_counter() - started)
    rows.append(row("video check (decode all 96 frames)", **latency_summary(checks), detail=f"{len(checks)} runs"))
    return rows


if __name__ == "__main__":
    child_main(measure)
