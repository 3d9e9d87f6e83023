"""Completed generations per second, 256² outputs, sustained: an open-loop load of 100 submits/s
through the API for 60 s while the worker(s) run them; completions are counted from the database
(`finished_at` inside the window) and the backlog (jobs submitted in the window, not yet ended)
is sampled every 2 s — its slope says whether it grows.
"""

import asyncio
import statistics
import time
from datetime import UTC, datetime

import psycopg

from . import latency_summary, row
from ._load import HttpClient, submit_body

NAME = "throughput"
ORDER = 30
TARGET = "≥ 100 completed/s sustained, no growing backlog"
RATE = 100  # offered submits per second
CONNECTIONS = 16
# The bench-only catalogue entry (devtools/bench/fixtures.py): the offline engine at 256².
MODEL, TIER = "bench-sketch-256", "tiny"

ACTIVE = ("queued", "dispatched", "running", "finishing")


def pause_worker(stack) -> None:
    """Stop the workers taking generation jobs (the `io` queue) until purge_and_resume."""
    stack.django("from config.celery import app\nresult = app.control.cancel_consumer('io', reply=True, timeout=5)")


def purge_and_resume(stack) -> None:
    """Drop the jobs still queued (they were load, not work anyone waits for) and resume."""
    stack.django(
        "from config.celery import app\n"
        "with app.connection_for_write() as conn:\n"
        "    result = conn.default_channel.queue_purge('io')\n"
        "app.control.add_consumer('io', reply=True, timeout=5)\n"
    )


def _slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def _counts(conn, since: datetime) -> dict:
    row_ = conn.execute(
        "SELECT count(*) FILTER (WHERE status = ANY(%s)), count(*) FILTER (WHERE status = 'succeeded'), "
        "count(*) FILTER (WHERE status IN ('failed', 'rejected', 'canceled')) "
        "FROM generations_generation WHERE created_at >= %s", [list(ACTIVE), since],
    ).fetchone()
    return {"backlog": row_[0], "succeeded": row_[1], "failed": row_[2]}


async def _offer(base_urls, keys, seconds: float, rate: float, conn, since: datetime):
    latencies, errors, samples = [], [], []
    start = time.monotonic()
    per_connection = rate / len(keys)

    async def submitter(index: int):
        http = HttpClient(base_urls[index % len(base_urls)], {"Authorization": f"Bearer {keys[index]}"})
        body = submit_body(MODEL, TIER, prompt=f"harbour lights {index}")
        sent = 0
        try:
            while True:
                due = start + (sent + index / len(keys)) / per_connection
                # Open loop on the clock: a slow server does not stretch the window with catch-up sends.
                if due >= start + seconds or time.monotonic() >= start + seconds:
                    break
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                began = time.monotonic()
                try:
                    status, payload = await http.request("POST", "/api/v1/generations", body)
                except Exception as error:  # noqa: BLE001
                    status, payload = None, repr(error).encode()
                sent += 1
                if status == 201:
                    latencies.append(time.monotonic() - began)
                else:
                    errors.append(f"{status}: {payload[:120]!r}")
        finally:
            await http.close()

    async def sampler():
        while time.monotonic() - start < seconds:
            await asyncio.sleep(2)
            counts = await asyncio.to_thread(_counts, conn, since)
            samples.append((time.monotonic() - start, counts["backlog"]))

    await asyncio.gather(sampler(), *(submitter(i) for i in range(len(keys))))
    return latencies, errors, samples


def run(ctx) -> list[dict]:
    stack = ctx.stack()
    seconds = 10 if ctx.quick else 60
    users = stack.fixtures(users=CONNECTIONS, prefix="throughput")
    conn = psycopg.connect(stack.database_url, autocommit=True)
    try:
        if ctx.rss:
            ctx.rss.reset()
        since = datetime.now(UTC)
        window_start = time.time()
        latencies, errors, samples = asyncio.run(
            _offer(stack.base_urls, [u["api_key"] for u in users], seconds, RATE, conn, since)
        )
        window_end = time.time()
        # Let what is left drain a little, to see how far behind the workers were.
        drain_deadline = time.monotonic() + (10 if ctx.quick else 30)
        while _counts(conn, since)["backlog"] and time.monotonic() < drain_deadline:
            time.sleep(0.5)
        peaks = ctx.rss.peaks() if ctx.rss else {}
        cpu = ctx.rss.cpu_used() if ctx.rss else {}
        completed = conn.execute(
            "SELECT count(*) FROM generations_generation WHERE created_at >= %s AND status = 'succeeded' "
            "AND finished_at BETWEEN %s AND %s",
            [since, datetime.fromtimestamp(window_start, UTC), datetime.fromtimestamp(window_end, UTC)],
        ).fetchone()[0]
        final = _counts(conn, since)
        latency = conn.execute(
            "SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY "
            "extract(epoch FROM finished_at - created_at)) FROM generations_generation "
            "WHERE created_at >= %s AND status = 'succeeded'", [since],
        ).fetchone()[0] or [None, None, None]
    finally:
        conn.close()
        purge_and_resume(stack)
    rate = completed / (window_end - window_start)
    steady = [s for s in samples if s[0] >= min(10, seconds / 3)]
    slope = _slope(steady)
    growing = slope > 1.0
    met = rate >= RATE and not growing and not errors and final["failed"] == 0
    submit = latency_summary(latencies)
    end_to_end = [round(v * 1000, 1) if v is not None else None for v in latency]
    return [row(
        "throughput (256², 100/s offered)", target=TARGET,
        median_ms=end_to_end[0], p95_ms=end_to_end[1], p99_ms=end_to_end[2],
        throughput=round(rate, 1), throughput_unit="completed/s",
        peak_rss_mb=max(peaks.values()) if peaks else None, met=met,
        detail=(f"{len(latencies)} submitted in {seconds} s ({len(errors)} errors, submit p99 {submit['p99_ms']} ms); "
                f"backlog slope {slope:+.1f} jobs/s (last {samples[-1][1] if samples else 0}); "
                f"after drain: {final['backlog']} left, {final['failed']} failed; latency columns = "
                f"submit→succeeded; workers {stack.worker_processes}×{stack.worker_concurrency}; "
                f"peak RSS web {peaks.get('web')} MB, worker {peaks.get('worker')} MB; CPU per finished job: "
                f"worker {1000 * cpu.get('worker', 0) / max(1, final['succeeded']):.1f} ms, "
                f"web {1000 * cpu.get('web', 0) / max(1, len(latencies)):.1f} ms per submit"
                + (f"; first error {errors[0]}" if errors else "")),
    )]
