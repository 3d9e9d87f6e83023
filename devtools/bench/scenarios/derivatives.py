"""Image derivatives: WebP preview + WebP thumbnail + BlurHash + SHA-256 of a 1024² PNG, the usual
generator output, through `apps.imaging.derivatives.derivatives_make` (goal: median ≤ 40 ms).

Runs in its own process (no database). Both backends are timed, interleaved run by run so a busy
machine penalises them alike; the row also gives the CPU time per image, the WebP sizes and the
preview's PSNR against the source (so a speed-up that costs fidelity shows). Full mode adds larger
sources, upload cleaning, the BlurHash placeholder and the local photo operations, with no goal.
Images are synthetic and photo-like (gradients, shapes, mild noise, blurred), fixed seed.
"""

import io
import statistics
import time

from devtools.bench.scenarios import latency_summary, row
from devtools.bench.scenarios._inproc import child_main, peak_rss_mb, run_child

NAME = "derivatives"
ORDER = 60
GOAL_MS = 40.0


def run(ctx) -> list[dict]:
    return run_child(ctx, "devtools.bench.scenarios.derivatives")


def photo_like(size: int, seed: int = 1):
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, size, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, size, dtype=np.float32)[:, None]
    zero = np.zeros((size, size), dtype=np.float32)
    pixels = np.stack([30 + 170 * x * (1 - 0.3 * y), 50 + 140 * y + zero, 180 - 120 * x * y], axis=-1)
    pixels += rng.normal(0, 6, pixels.shape).astype(np.float32)
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(24):
        cx, cy, r = rng.integers(0, size, 2).tolist() + [int(rng.integers(size // 40, size // 6))]
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    return image.filter(ImageFilter.GaussianBlur(1.2))


def encoded(image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def _psnr(webp: bytes, source) -> float:
    import numpy as np
    from PIL import Image

    decoded = np.asarray(Image.open(io.BytesIO(webp)).convert("RGB"), dtype=np.float64)
    reference = np.asarray(source.convert("RGB"), dtype=np.float64)
    mse = float(((decoded - reference) ** 2).mean())
    return round(10 * np.log10(255**2 / mse), 2) if mse else 99.0


def _timed(functions: dict, runs: int) -> dict:
    """Wall and CPU seconds per call for each function, alternating them run by run."""
    for fn in functions.values():
        fn()  # warm-up: imports, libvips caches
    wall = {name: [] for name in functions}
    cpu = {name: [] for name in functions}
    for _ in range(runs):
        for name, fn in functions.items():
            cpu_started, started = time.process_time(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
    return {name: (wall[name], cpu[name]) for name in functions}


def measure(quick: bool) -> list[dict]:
    from apps.imaging import derivatives, operations
    from apps.media.validation import image_validate_clean

    runs = 15 if quick else 60
    default = derivatives.backend_name()
    backends = [default] + [b for b in ("pyvips", "pillow") if b != default and (b != "pyvips" or derivatives.HAVE_PYVIPS)]
    source = photo_like(1024)
    png = encoded(source, "PNG")
    timings = _timed({b: (lambda b=b: derivatives.derivatives_make(png, backend=b)) for b in backends}, runs)
    rows = []
    for backend in backends:
        wall, cpu = timings[backend]
        made = derivatives.derivatives_make(png, backend=backend)
        summary = latency_summary(wall)
        rows.append(row(
            f"derivatives 1024² PNG ({backend}{', default' if backend == default else ''})",
            target=f"median ≤ {GOAL_MS:.0f} ms" if backend == default else "",
            **summary, throughput=round(1 / statistics.median(wall), 1), throughput_unit="images/s per core",
            peak_rss_mb=peak_rss_mb(), met=(summary["median_ms"] <= GOAL_MS) if backend == default else None,
            detail=(f"{runs} runs; CPU {statistics.median(cpu) * 1000:.1f} ms/image; preview "
                    f"{len(made.preview_webp) // 1024} KiB PSNR {_psnr(made.preview_webp, source)} dB, thumbnail "
                    f"{len(made.thumbnail_webp) // 1024} KiB; source {len(png) // 1024} KiB"),
        ))
    if quick:
        return rows

    # No goals below: where the time goes for bigger sources and the other media work.
    big = photo_like(2048)
    phone = encoded(photo_like(4032).resize((4032, 3024)), "JPEG")
    cases = {"2048² PNG": encoded(big, "PNG"), "2048² JPEG": encoded(big, "JPEG"), "4032×3024 JPEG": phone}
    for label, data in cases.items():
        wall, cpu = _timed({default: lambda d=data: derivatives.derivatives_make(d)}, 15)[default]
        rows.append(row(f"derivatives {label} ({default})", **latency_summary(wall),
                        detail=f"15 runs; CPU {statistics.median(cpu) * 1000:.1f} ms/image"))
    wall, _ = _timed({"clean": lambda: image_validate_clean(png, max_bytes=10**9)}, 15)["clean"]
    rows.append(row("upload validate + clean 1024² PNG", **latency_summary(wall), detail="15 runs"))
    blurhash = derivatives.derivatives_make(png).blurhash
    wall, _ = _timed({"uri": lambda: derivatives.blurhash_data_uri.__wrapped__(blurhash)}, 100)["uri"]
    rows.append(row("blurhash placeholder (uncached)", **latency_summary(wall), detail="32×32 PNG data URI, 100 runs"))
    for label, fn in [
        ("crop 16:9", lambda: operations.crop_to_aspect(source, "16:9")),
        ("upscale 2× (Lanczos + unsharp)", lambda: operations.upscale(source, 2)),
        ("colour correct", lambda: operations.color_correct(source)),
        ("GrabCut background removal", lambda: operations.remove_background_grabcut(source)),
    ]:
        wall, _ = _timed({label: fn}, 5)[label]
        rows.append(row(f"operation on 1024²: {label}", **latency_summary(wall), detail="5 runs"))
    return rows


if __name__ == "__main__":
    child_main(measure)
