"""`make bench` scenarios: one module each, run by devtools/bench/run.py in ORDER.

A scenario module defines

    NAME = "submit"            # what --only selects
    ORDER = 20                 # run order (lower first)
    def run(ctx) -> list[dict]  # one or more table rows

and each row is a dict with the keys in ROW_KEYS (`row()` fills the defaults):

    scenario         short name shown in the table
    target           the goal as text, e.g. "p95 ≤ 150 ms"
    median_ms, p95_ms, p99_ms   latency figures in milliseconds (or None)
    throughput       a number or None, in throughput_unit (e.g. "submits/s")
    peak_rss_mb      peak resident memory of the processes the row is about (or None)
    peer             a side-by-side row's peer and its figure, e.g. "LiteLLM 41.2 ms" (or None)
    ratio            ours / the peer's (latency) or ours / the peer's (throughput), or None
    met              True / False, or None when there is no target to check
    detail           one short line: sample sizes, errors, what was measured

`ctx` (devtools.bench.run.Context) gives: ctx.quick, ctx.python, ctx.root, ctx.results_dir,
ctx.database_url(name) (a fresh PostgreSQL database for that name), ctx.redis_url,
ctx.stack() (the production-shape stack, started on first use: migrated database, daphne web
process(es), Celery worker process(es); see devtools/stack.py and devtools/bench/fixtures.py), ctx.log(text) and ctx.rss (the
RSS sampler of the stack's processes).
"""

import statistics

ROW_KEYS = ("scenario", "target", "median_ms", "p95_ms", "p99_ms", "throughput", "throughput_unit",
            "peak_rss_mb", "peer", "ratio", "met", "detail")


def row(scenario: str, **values) -> dict:
    """A table row with every key present (missing ones None, unit and detail empty)."""
    out = dict.fromkeys(ROW_KEYS)
    out.update(scenario=scenario, target="", throughput_unit="", detail="")
    unknown = set(values) - set(ROW_KEYS)
    if unknown:
        raise ValueError(f"unknown row keys: {sorted(unknown)}")
    out.update(values)
    return out


def percentile(values, fraction: float) -> float | None:
    """Nearest-rank percentile of a list (None when empty)."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_summary(seconds) -> dict:
    """median/p95/p99 in milliseconds from a list of durations in seconds."""
    values = [s * 1000 for s in seconds]
    if not values:
        return {"median_ms": None, "p95_ms": None, "p99_ms": None}
    return {
        "median_ms": round(statistics.median(values), 2),
        "p95_ms": round(percentile(values, 0.95), 2),
        "p99_ms": round(percentile(values, 0.99), 2),
    }
