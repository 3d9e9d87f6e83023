"""Darkroom as an OpenAI Images gateway, side by side with LiteLLM's proxy on the same fake upstream.

Both gateways forward `POST /v1/images/generations` to devtools/bench/fake_openai.py, which answers
at once with a 256² PNG (b64_json), so every millisecond measured is the gateway's own: LiteLLM's
proxy (from PyPI, `make bench` installs it into var/bench-litellm — a bench-only tool, never a
product dependency), and Darkroom's `/v1/images/generations` with the bench's catalogue entry routed
through its OpenAI adapter (submit, queue, worker, provider call, validation, storage, answer).

Three loads, each run for both peers back to back, in alternating order, repeated (three times,
one with --quick); the row shows the medians over the repetitions:

* sequential: one client, N requests, p50 — target: ≤ LiteLLM's p50 + 25 ms
* 8 and 32 clients, closed loop for a fixed time — target: throughput ≥ LiteLLM's, zero errors
  (any answer other than 200 with the image counts as an error and fails the row).
"""

import asyncio
import json
import os
import statistics
import time
from pathlib import Path

from devtools.bench.fixtures import GATEWAY_MODEL_SLUG
from devtools.stack import LiveProcess, _children, clean_env, cpu_seconds, http_ok, wait_for

from . import percentile, row
from ._load import HttpClient

NAME = "gateway"
ORDER = 12
PEER = "LiteLLM"
LITELLM_BIN = Path(os.environ.get("BENCH_LITELLM_BIN") or "var/bench-litellm/bin/litellm")
PROMPT = "a lighthouse on a hill at night"
SEQUENTIAL_SLACK_MS = 25.0
# LiteLLM refuses to start without a master key; requests carry it, as Darkroom's carry an API key.
LITELLM_KEY = "sk-bench-litellm-0123456789abcdef0123456789abcdef"


def _body() -> dict:
    return {"model": GATEWAY_MODEL_SLUG, "prompt": PROMPT, "size": "256x256", "response_format": "b64_json", "n": 1}


async def _one(client: HttpClient) -> tuple[bool, float]:
    started = time.perf_counter()
    try:
        status, payload = await client.request("POST", "/v1/images/generations", _body())
        ok = status == 200 and b'"b64_json"' in payload
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        ok = False
    return ok, time.perf_counter() - started


async def _sequential(base_url: str, key: str, requests: int) -> dict:
    client = HttpClient(base_url, {"Authorization": f"Bearer {key}"})
    try:
        await _one(client)  # warm-up
        results = [await _one(client) for _ in range(requests)]
    finally:
        await client.close()
    return {"n": len(results) + 1, "p50": statistics.median(s for _, s in results) * 1000,
            "errors": sum(not ok for ok, _ in results),
            "rate": len(results) / sum(s for _, s in results)}


async def _concurrent(base_url: str, key: str, clients: int, seconds: float) -> dict:
    end = time.perf_counter() + seconds
    latencies, errors = [], []

    async def worker():
        client = HttpClient(base_url, {"Authorization": f"Bearer {key}"})
        try:
            while time.perf_counter() < end:
                ok, elapsed = await _one(client)
                (latencies if ok else errors).append(elapsed)
        finally:
            await client.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - started
    return {"n": len(latencies) + len(errors), "rate": len(latencies) / wall, "p50": (statistics.median(latencies) * 1000) if latencies else None,
            "p99": percentile([v * 1000 for v in latencies], 0.99), "errors": len(errors)}


def _litellm(ctx, port: int, upstream: str) -> LiveProcess:
    binary = LITELLM_BIN if LITELLM_BIN.is_absolute() else ctx.root / LITELLM_BIN
    if not binary.exists():
        raise RuntimeError(f"LiteLLM's proxy is not installed at {binary}: `make bench` installs it")
    config = ctx.log_dir / "litellm.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "model_list:\n"
        f"  - model_name: {GATEWAY_MODEL_SLUG}\n"
        "    litellm_params:\n"
        "      model: openai/dall-e-2\n"
        f"      api_base: {upstream}\n"
        "      api_key: sk-bench\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  drop_params: true\n"
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
           "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "LITELLM_MASTER_KEY": LITELLM_KEY}
    process = LiveProcess(f"litellm :{port}", [str(binary), "--config", str(config), "--host", "127.0.0.1",
                                               "--port", str(port), "--num_workers", "1"],
                          env, ctx.log_dir / "litellm.log").start()
    wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/health/liveliness"), timeout=180,
             what="LiteLLM's proxy", processes=[process])
    return process


def run(ctx) -> list[dict]:
    stack = ctx.stack()
    fake = LiveProcess("fake openai", [ctx.python, "-m", "devtools.bench.fake_openai", "--port",
                                       str(stack.fake_openai_port)], clean_env(), ctx.log_dir / "fake_openai.log").start()
    litellm = None
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{stack.fake_openai_port}/health"), timeout=30,
                 what="the fake OpenAI upstream", processes=[fake])
        litellm = _litellm(ctx, stack.litellm_port, f"http://127.0.0.1:{stack.fake_openai_port}/v1")
        key = stack.fixtures(users=1, prefix="gateway")[0]["api_key"]
        peers = {PEER: (f"http://127.0.0.1:{stack.litellm_port}", LITELLM_KEY), "Darkroom": (stack.base_url, key)}
        return _measure(ctx, peers, litellm_pid=litellm.pid)
    finally:
        if litellm is not None:
            litellm.stop()
        fake.stop()


def _tree_cpu(pid: int) -> float:
    pids, stack = [pid], _children(pid)
    while stack:
        child = stack.pop()
        pids.append(child)
        stack += _children(child)
    return sum(cpu_seconds(p) for p in pids)


def _measure(ctx, peers: dict, *, litellm_pid: int) -> list[dict]:
    repetitions = 1 if ctx.quick else 3
    sequential_n = 20 if ctx.quick else 60
    seconds = 4.0 if ctx.quick else 10.0
    loads = [("sequential", None), ("8 clients", 8), ("32 clients", 32)]
    figures = {(load, peer): [] for load, _ in loads for peer in peers}
    for repetition in range(repetitions):
        for load, clients in loads:
            order = list(peers) if repetition % 2 == 0 else list(reversed(peers))
            for peer in order:
                base_url, key = peers[peer]
                # CPU per request (the processes' CPU time, which a busy machine inflates far
                # less than wall time): LiteLLM's process tree; Darkroom's web and worker processes.
                if ctx.rss:
                    ctx.rss.reset()
                litellm_cpu = _tree_cpu(litellm_pid)
                if clients is None:
                    result = asyncio.run(_sequential(base_url, key, sequential_n))
                else:
                    result = asyncio.run(_concurrent(base_url, key, clients, seconds))
                requests = max(1, result["n"])
                if peer == PEER:
                    result["cpu_ms"] = 1000 * (_tree_cpu(litellm_pid) - litellm_cpu) / requests
                elif ctx.rss:
                    used = ctx.rss.cpu_used()
                    result["cpu_ms"] = 1000 * (used.get("web", 0) + used.get("worker", 0)) / requests
                    result["web_cpu_ms"] = 1000 * used.get("web", 0) / requests
                figures[(load, peer)].append(result)
                ctx.log(f"gateway {load} {peer} #{repetition + 1}: {json.dumps(_rounded(result))}")
    rows = []
    for load, clients in loads:
        ours, theirs = figures[(load, "Darkroom")], figures[(load, PEER)]
        errors = sum(r["errors"] for r in ours)
        peer_errors = sum(r["errors"] for r in theirs)
        p50 = statistics.median(r["p50"] for r in ours if r["p50"] is not None) if any(
            r["p50"] is not None for r in ours) else None
        peer_p50 = statistics.median(r["p50"] for r in theirs if r["p50"] is not None)
        rate = statistics.median(r["rate"] for r in ours)
        peer_rate = statistics.median(r["rate"] for r in theirs)
        setting = (f"{repetitions} interleaved repetitions, medians; each run "
                   + (f"{sequential_n} requests" if clients is None else f"{seconds:.0f} s closed loop"))
        if clients is None:
            target = f"p50 ≤ {PEER} p50 + {SEQUENTIAL_SLACK_MS:.0f} ms"
            met = p50 is not None and p50 <= peer_p50 + SEQUENTIAL_SLACK_MS and errors == 0
            ratio = round(p50 / peer_p50, 2) if p50 else None
            peer_text = f"{peer_p50:.1f} ms"
        else:
            target = f"req/s ≥ {PEER}'s, 0 errors"
            met = rate >= peer_rate and errors == 0
            ratio = round(rate / peer_rate, 2) if peer_rate else None
            peer_text = f"{peer_rate:.1f} req/s"
        p99s = [r["p99"] for r in ours if r.get("p99") is not None]
        cpu = [r["cpu_ms"] for r in ours if r.get("cpu_ms") is not None]
        peer_cpu = [r["cpu_ms"] for r in theirs if r.get("cpu_ms") is not None]
        cpu_text = (f"CPU per request: Darkroom {statistics.median(cpu):.1f} ms (web "
                    f"{statistics.median(r.get('web_cpu_ms', 0) for r in ours):.1f}), {PEER} "
                    f"{statistics.median(peer_cpu):.1f} ms; " if cpu and peer_cpu else "")
        rows.append(row(
            f"gateway: /v1/images/generations, {load}", target=target, median_ms=round(p50, 1) if p50 else None,
            p99_ms=round(statistics.median(p99s), 1) if p99s else None, throughput=round(rate, 1),
            throughput_unit="req/s", peer=f"{PEER} {peer_text}", ratio=ratio, met=met,
            detail=(f"{setting}; {cpu_text}Darkroom errors {errors}, {PEER} errors {peer_errors}; {PEER} p50 "
                    f"{peer_p50:.1f} ms, {peer_rate:.1f} req/s; per run Darkroom "
                    f"{[_rounded(r) for r in ours]}"),
        ))
    return rows


def _rounded(result: dict) -> dict:
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in result.items()}

