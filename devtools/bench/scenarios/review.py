"""The offline judges on a 1024² image: safety (open_nsfw on onnxruntime, CPU), format and technical
quality, as a text-to-image output is reviewed (goal: median ≤ 150 ms in total per image); and the
same plus edit fidelity for an inpaint against its source and mask (no goal).

Runs in its own process (no database): the judges take pixels and thresholds only. The image is the
derivatives scenario's photo-like 1024² source, decoded once (decoding is the finishing path's, not
the judges'); the judges' time per image is what a user waits for, the per-judge split is in the
detail. Warm: the classifier's session is made before timing (once per worker process in production).
"""

import statistics
import time

from devtools.bench.scenarios import latency_summary, row
from devtools.bench.scenarios._inproc import child_main, peak_rss_mb, run_child

NAME = "review"
ORDER = 62
GOAL_MS = 150.0


def run(ctx) -> list[dict]:
    return run_child(ctx, "devtools.bench.scenarios.review")


def _timed(judges, image, request, limits, runs: int) -> tuple[list[float], dict[str, list[float]]]:
    totals, each = [], {judge.name: [] for judge in judges}
    for judge in judges:
        judge(image, request, limits)  # warm-up: the ONNX session, OpenCV's first calls
    for _ in range(runs):
        started = time.perf_counter()
        for judge in judges:
            before = time.perf_counter()
            judge(image, request, limits)
            each[judge.name].append(time.perf_counter() - before)
        totals.append(time.perf_counter() - started)
    return totals, each


def measure(quick: bool) -> list[dict]:
    from PIL import Image, ImageDraw

    from apps.review.contract import ReviewRequest, TaskKind
    from apps.review.judges import register_builtin
    from apps.review.registry import DEFAULT_LIMITS, judges
    from devtools.bench.scenarios.derivatives import photo_like

    register_builtin()
    runs = 21 if quick else 61
    image = photo_like(1024)
    offline = [judges.get(name) for name in ("safety", "format", "quality")]
    request = ReviewRequest(prompt="a photo", task=TaskKind.TEXT_TO_IMAGE, expected_size=(1024, 1024))
    totals, each = _timed(offline, image, request, DEFAULT_LIMITS, runs)
    summary = latency_summary(totals)
    split = ", ".join(f"{name} {statistics.median(times) * 1000:.1f} ms" for name, times in each.items())
    rows = [row(
        "review: offline judges on a 1024² text-to-image output", target=f"median ≤ {GOAL_MS:.0f} ms",
        **summary, throughput=round(1 / statistics.median(totals), 1), throughput_unit="images/s",
        peak_rss_mb=peak_rss_mb(), met=summary["median_ms"] <= GOAL_MS,
        detail=f"{runs} runs; median per judge: {split}",
    )]
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).rectangle((256, 256, 768, 768), fill=255)
    edited = Image.composite(Image.new("RGB", image.size, (200, 40, 40)), image, mask)
    inpaint = ReviewRequest(prompt="a red square", task=TaskKind.INPAINT, source=image, mask=mask,
                            expected_size=(1024, 1024))
    totals, each = _timed(offline + [judges.get("fidelity")], edited, inpaint, DEFAULT_LIMITS, runs)
    split = ", ".join(f"{name} {statistics.median(times) * 1000:.1f} ms" for name, times in each.items())
    rows.append(row("review: offline judges + fidelity on a 1024² inpaint", **latency_summary(totals),
                    throughput=round(1 / statistics.median(totals), 1), throughput_unit="images/s",
                    detail=f"{runs} runs; median per judge: {split}"))
    return rows


if __name__ == "__main__":
    child_main(measure)
