"""Our overhead per generation: submit → final websocket event, minus the provider's own reported
time, for a 1024² output with its derivatives (WebP preview, thumbnail, BlurHash).

One client at a time: POST /api/v1/generations with an API key, then wait on the owner's live
websocket for `generation.succeeded`. The offline engine (zero delay, one step) is the provider;
its `predict_seconds` is subtracted. The server's own phase timings (Generation.timings) of the
same jobs are read back for the breakdown.
"""

import asyncio
import json
import statistics
import time

from . import latency_summary, row
from ._load import HttpClient, submit_body, ws_connect

NAME = "overhead"
ORDER = 10
TARGET = "p50 ≤ 60 ms, p95 ≤ 150 ms"
MODEL, TIER = "offline-sketch", "standard"  # 1024 × 1024


async def _measure(base_url: str, api_key: str, session: str, runs: int) -> list[tuple[str, float]]:
    client = HttpClient(base_url, {"Authorization": f"Bearer {api_key}"})
    ws = await ws_connect(base_url, session)
    done = []
    try:
        for index in range(runs + 1):  # the first is a warm-up
            started = time.time()
            status, payload = await client.request("POST", "/api/v1/generations", submit_body(MODEL, TIER))
            if status != 201:
                raise RuntimeError(f"submit answered {status}: {payload[:200]!r}")
            generation_id = json.loads(payload)["id"]
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
                if message["data"].get("id") == generation_id and message["type"] != "generation.progress":
                    break
            if message["type"] != "generation.succeeded":
                raise RuntimeError(f"generation ended {message['type']}")
            if index:
                done.append((generation_id, time.time() - started))
    finally:
        await ws.close()
        await client.close()
    return done


def _phase_medians(timings: list[dict]) -> dict:
    spans = {
        "dispatch": ("queued", "dispatched"), "to_provider": ("dispatched", "provider_start"),
        "derivatives": ("provider_end", "derivatives_done"), "store": ("derivatives_done", "outputs_stored"),
        "publish": ("outputs_stored", "event_published"),
    }
    out = {}
    for name, (start, end) in spans.items():
        values = [t[end] - t[start] for t in timings if start in t and end in t]
        if values:
            out[name] = round(statistics.median(values) * 1000, 1)
    return out


def run(ctx) -> list[dict]:
    stack = ctx.stack()
    runs = 10 if ctx.quick else 60
    user = stack.fixtures(users=1, prefix="overhead", sessions=True)[0]
    if ctx.rss:
        ctx.rss.reset()
    measured = asyncio.run(_measure(stack.base_url, user["api_key"], user["session"], runs))
    ids = [generation_id for generation_id, _ in measured]
    server = stack.django(
        "from apps.generations.models import Generation\n"
        f"ids = {ids!r}\n"
        "result = {str(g.pk): [g.predict_seconds, g.timings] for g in Generation.objects.filter(pk__in=ids)}\n"
    )
    overheads, server_overheads, timings = [], [], []
    for generation_id, elapsed in measured:
        predict_seconds, phase_times = server[generation_id]
        overheads.append(elapsed - (predict_seconds or 0))
        if "overhead" in phase_times:
            server_overheads.append(phase_times["overhead"])
        timings.append(phase_times)
    summary = latency_summary(overheads)
    peaks = ctx.rss.peaks() if ctx.rss else {}
    # CPU the web and worker processes spent per generation (the warm-up included): a figure that a
    # busy machine inflates far less than wall time.
    cpu = ctx.rss.cpu_used() if ctx.rss else {}
    cpu_per_job = {role: round(1000 * seconds / (runs + 1), 1) for role, seconds in cpu.items()}
    server_median = round(statistics.median(server_overheads) * 1000, 1) if server_overheads else None
    provider_median = round(statistics.median(server[i][0] for i in ids) * 1000, 1)
    phases = ", ".join(f"{k} {v}" for k, v in _phase_medians(timings).items())
    met = summary["median_ms"] is not None and summary["median_ms"] <= 60 and summary["p95_ms"] <= 150
    return [row(
        "overhead (1024², derivatives)", target=TARGET, **summary,
        throughput=None, peak_rss_mb=max(peaks.values()) if peaks else None, met=met,
        detail=(f"n={len(overheads)} sequential; provider median {provider_median} ms subtracted; server-side "
                f"overhead median {server_median} ms; phase medians ms: {phases}; CPU per generation ms: "
                f"web {cpu_per_job.get('web')}, worker {cpu_per_job.get('worker')}"),
    )]
