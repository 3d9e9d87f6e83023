"""API submit under 32 concurrent clients: POST /api/v1/generations as fast as answers come.

32 users, one keep-alive connection and API key each, closed loop. The worker stops consuming
the `io` queue for the duration (the submits would otherwise queue thousands of renders that
compete for the same two cores); what is measured is the API: auth, validation, quote, limits,
credit reservation, the insert, the enqueue and the `queued` live event. Queued jobs are purged
afterwards.
"""

import asyncio
import time

from . import latency_summary, row
from ._load import HttpClient, submit_body
from .throughput import MODEL, TIER, pause_worker, purge_and_resume

NAME = "submit"
ORDER = 20
TARGET = "≥ 300 submits/s, p99 ≤ 50 ms, 0 errors"
CLIENTS = 32


async def _load(base_urls: list[str], keys: list[str], seconds: float, warmup: float):
    latencies, errors, counted = [], [], [0]
    start = time.monotonic()
    measure_from, stop_at = start + warmup, start + warmup + seconds

    async def client(index: int):
        http = HttpClient(base_urls[index % len(base_urls)], {"Authorization": f"Bearer {keys[index]}"})
        body = submit_body(MODEL, TIER)
        try:
            while (began := time.monotonic()) < stop_at:
                try:
                    status, payload = await http.request("POST", "/api/v1/generations", body)
                except Exception as error:  # noqa: BLE001 — every failure is counted
                    status, payload = None, repr(error).encode()
                ended = time.monotonic()
                if began < measure_from:
                    continue
                if status == 201:
                    latencies.append(ended - began)
                    counted[0] += 1
                else:
                    errors.append(f"{status}: {payload[:120]!r}")
        finally:
            await http.close()

    await asyncio.gather(*(client(i) for i in range(len(keys))))
    return latencies, errors, seconds


def run(ctx) -> list[dict]:
    stack = ctx.stack()
    seconds, warmup = (8, 2) if ctx.quick else (30, 5)
    users = stack.fixtures(users=CLIENTS, prefix="submit")
    pause_worker(stack)
    try:
        if ctx.rss:
            ctx.rss.reset()
        latencies, errors, duration = asyncio.run(_load(stack.base_urls, [u["api_key"] for u in users], seconds, warmup))
        peaks = ctx.rss.peaks() if ctx.rss else {}
        cpu = ctx.rss.cpu_used() if ctx.rss else {}
    finally:
        purge_and_resume(stack)
    summary = latency_summary(latencies)
    rate = len(latencies) / duration
    met = rate >= 300 and summary["p99_ms"] is not None and summary["p99_ms"] <= 50 and not errors
    return [row(
        "API submit (32 clients)", target=TARGET, **summary, throughput=round(rate, 1),
        throughput_unit="submits/s", peak_rss_mb=peaks.get("web"), met=met,
        detail=(f"{len(latencies)} ok, {len(errors)} errors in {duration:.0f} s after {warmup} s warm-up; "
                f"{len(stack.base_urls)} web process(es), worker paused; web CPU "
                f"{1000 * cpu.get('web', 0) / max(1, len(latencies) + len(errors)):.1f} ms per submit"
                + (f"; first error {errors[0]}" if errors else "")),
    )]
