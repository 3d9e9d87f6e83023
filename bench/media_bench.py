"""Media pipeline benchmarks: derivatives, Pillow vs pyvips thumbnails, BlurHash, upload cleaning.

    .venv/bin/python bench/media_bench.py [--runs 10] [--quick]

Prints a table and writes bench/results/media.json. Every figure is the median of `--runs` runs
(after one warm-up) in milliseconds, on synthetic photo-like images (gradients, shapes, mild
noise, blurred) made with a fixed seed, so runs are comparable across machines and commits.
"""

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django  # noqa: E402

django.setup()

import blurhash_rs  # noqa: E402
import numpy as np  # noqa: E402
import PIL  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from apps.media import derivatives, operations  # noqa: E402
from apps.media.validation import image_validate_clean  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "media.json"


def photo_like(size: int, seed: int = 1) -> Image.Image:
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


def encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def median_ms(fn, runs: int) -> dict:
    fn()  # warm-up (imports, caches, libvips operation cache)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 3), "min_ms": round(min(times), 3), "runs": runs}


def median_ms_interleaved(functions: dict, runs: int) -> dict:
    """median_ms for several functions, alternating them run by run."""
    for fn in functions.values():
        fn()
    times: dict = {name: [] for name in functions}
    for _ in range(runs):
        for name, fn in functions.items():
            started = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - started) * 1000)
    return {
        name: {"median_ms": round(statistics.median(t), 3), "min_ms": round(min(t), 3), "runs": runs}
        for name, t in times.items()
    }


def pillow_thumbnail(data: bytes, edge: int = 512) -> bytes:
    image = Image.open(io.BytesIO(data))
    image.thumbnail((edge, edge), Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    image.convert("RGB").save(out, format="WEBP", quality=80, method=4)
    return out.getvalue()


def vips_thumbnail(data: bytes, edge: int = 512) -> bytes:
    import pyvips

    return pyvips.Image.thumbnail_buffer(data, edge, height=edge, size="down").webpsave_buffer(
        Q=80, effort=4, keep="none"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 runs, for a smoke check")
    args = parser.parse_args()
    runs = 3 if args.quick else max(10, args.runs)
    backends = ["pillow"] + (["pyvips"] if derivatives.HAVE_PYVIPS else [])
    rows: list[tuple[str, str, dict]] = []
    results: dict = {"derivatives": {}, "thumbnail": {}, "blurhash": {}, "upload_clean": {}, "operations": {}}

    sources = {}
    for size in (1024, 2048):
        image = photo_like(size)
        for fmt in ("JPEG", "PNG"):
            sources[(size, fmt)] = encoded(image, fmt)

    # A 12 MP phone-sized JPEG (4032×3024), the most common large upload.
    phone = encoded(photo_like(4032).resize((4032, 3024)), "JPEG")

    # 1. The whole derivative pipeline, as uploads and generation outputs run it. Backends are
    #    interleaved run by run so a busy machine penalises both alike.
    cases = [(f"{size}x{size} {fmt}", data) for (size, fmt), data in sources.items()] + [
        ("4032x3024 JPEG", phone)
    ]
    for key, data in cases:
        stats = median_ms_interleaved(
            {
                backend: (lambda b=backend, d=data: derivatives.derivatives_make(d, backend=b))
                for backend in backends
            },
            runs,
        )
        for backend, stat in stats.items():
            results["derivatives"].setdefault(key, {})[backend] = stat | {"input_bytes": len(data)}
            rows.append(("derivatives_make (preview+thumb+blurhash+sha256)", f"{key}, {backend}", stat))

    # 2. Thumbnail alone: 512 px WebP, Pillow vs pyvips.
    big = photo_like(4096)
    sources[(4096, "JPEG")] = encoded(big, "JPEG")
    sources[(4096, "PNG")] = encoded(big, "PNG")
    for (size, fmt), data in sources.items():
        key = f"{size}x{size} {fmt}"
        makers = {"pillow": lambda d=data: pillow_thumbnail(d)}
        if derivatives.HAVE_PYVIPS:
            makers["pyvips"] = lambda d=data: vips_thumbnail(d)
        results["thumbnail"][key] = median_ms_interleaved(makers, runs)
        for backend, stat in results["thumbnail"][key].items():
            rows.append(("thumbnail 512 px WebP", f"{key}, {backend}", stat))

    # 3. BlurHash (blurhash-rs, 4×3 components) and the 32×32 placeholder decode.
    base = photo_like(512)
    for edge in (32, 64, 128):
        small = base.resize((edge, edge), Image.Resampling.BILINEAR)
        stat = median_ms(lambda s=small: blurhash_rs.blurhash_encode(s, 4, 3), max(runs, 100))
        results["blurhash"][f"encode {edge}x{edge}"] = stat
        rows.append(("blurhash-rs encode 4x3", f"{edge}x{edge}", stat))
    blurhash = blurhash_rs.blurhash_encode(base.resize((32, 32)), 4, 3)
    stat = median_ms(lambda: derivatives.blurhash_data_uri.__wrapped__(blurhash), max(runs, 100))
    results["blurhash"]["placeholder 32x32 PNG data URI (uncached)"] = stat
    rows.append(("blurhash placeholder", "decode 32x32 + PNG + base64", stat))

    # 4. Upload validation and cleaning (decode, upright, strip, re-encode).
    for (size, fmt), data in sources.items():
        if size > 2048:
            continue
        stat = median_ms(lambda d=data: image_validate_clean(d, max_bytes=10**9), runs)
        results["upload_clean"][f"{size}x{size} {fmt}"] = stat
        rows.append(("image_validate_clean", f"{size}x{size} {fmt}", stat))

    # 5. Local operations on a 1024² photo (fewer runs: the slow ones take a second).
    photo = photo_like(1024)
    op_runs = 3 if args.quick else 5
    for name, fn in [
        ("crop 16:9", lambda: operations.crop_to_aspect(photo, "16:9")),
        ("upscale 2x (Lanczos + unsharp)", lambda: operations.upscale(photo, 2)),
        ("colour correct (grey world + levels)", lambda: operations.color_correct(photo)),
        ("GrabCut background removal", lambda: operations.remove_background_grabcut(photo)),
    ]:
        stat = median_ms(fn, op_runs)
        results["operations"][name] = stat
        rows.append(("operation, 1024x1024", name, stat))

    try:
        import pyvips

        vips = f"pyvips {pyvips.__version__}, libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    except ImportError:
        vips = "not installed"
    results["meta"] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "pyvips": vips,
        "blurhash_rs": getattr(blurhash_rs, "__version__", "2.x"),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "runs": runs,
        "default_backend": derivatives.backend_name(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    width = max(len(f"{a} — {b}") for a, b, _ in rows)
    print(f"{'benchmark':<{width}}  {'median ms':>10}  {'min ms':>9}  runs")
    for what, case, stat in rows:
        print(
            f"{what + ' — ' + case:<{width}}  {stat['median_ms']:>10.3f}  {stat['min_ms']:>9.3f}  {stat['runs']}"
        )
    print(f"\n{vips}; Pillow {PIL.__version__}; {os.cpu_count()} CPUs. Wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
