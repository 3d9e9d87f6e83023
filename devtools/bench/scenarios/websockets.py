"""2,000 live websocket clients held 60 s, each receiving a progress event every 500 ms.

Every client is a signed-in browser session on `/ws/live/` (the production consumer, auth and
origin checks). Publisher processes send each user's group a `generation.progress` event (with a
card-sized HTML fragment) every 500 ms through the Redis channel layer, as a worker does, spread
evenly over the interval. Delivery latency = client receive time − the event's `sent_at`; dropped
= events sent − events received.
"""

import asyncio
import json
import subprocess
import tempfile
import threading
import time

from . import latency_summary, row
from ._load import ws_connect

NAME = "websockets"
ORDER = 40
TARGET = "delivery p99 ≤ 100 ms, 0 dropped"
INTERVAL = 0.5
PUBLISHERS = 2


async def _clients(base_urls, sessions, user_ids, start_at: float, hold_until_done, grace: float):
    received = dict.fromkeys(user_ids, 0)
    latencies: list[float] = []
    failures: list[str] = []
    sockets = {}
    limiter = asyncio.Semaphore(50)

    async def connect(index: int):
        async with limiter:
            for attempt in range(3):
                try:
                    sockets[user_ids[index]] = await ws_connect(base_urls[index % len(base_urls)], sessions[index])
                    return
                except Exception as error:  # noqa: BLE001
                    if attempt == 2:
                        failures.append(f"connect: {error!r}"[:160])
                    await asyncio.sleep(0.5)

    await asyncio.gather(*(connect(i) for i in range(len(user_ids))))
    connected_at = time.time()

    async def listen(user_id, ws):
        try:
            async for text in ws:
                arrived = time.time()
                message = json.loads(text)
                if message.get("type") == "generation.progress" and message["data"]["id"] == f"bench-{user_id}":
                    received[user_id] += 1
                    latencies.append(arrived - message["sent_at"])
        except Exception as error:  # noqa: BLE001 — a closed socket loses what follows: counted as dropped
            failures.append(f"socket closed: {error!r}"[:160])

    listeners = [asyncio.create_task(listen(u, ws)) for u, ws in sockets.items()]
    await hold_until_done()
    await asyncio.sleep(grace)
    for ws in sockets.values():
        await ws.close()
    await asyncio.gather(*listeners, return_exceptions=True)
    return received, latencies, failures, len(sockets), connected_at


def run(ctx) -> list[dict]:
    stack = ctx.stack()
    clients, seconds = (200, 10) if ctx.quick else (2000, 60)
    ctx.log(f"websockets: creating {clients} signed-in sessions …")
    users = stack.fixtures(users=clients, prefix="ws", sessions=True, api_keys=False)
    user_ids = [u["user_id"] for u in users]
    sessions = [u["session"] for u in users]
    publisher_results: list[dict] = []

    async def scenario():
        connect_budget = max(20.0, clients / 40)
        start_at = time.time() + connect_budget  # publishing starts once everyone had time to connect
        if ctx.rss:  # CPU and memory are counted while events flow, not while sockets connect
            threading.Timer(connect_budget, ctx.rss.reset).start()
        files, processes = [], []
        for index in range(PUBLISHERS):
            handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
            json.dump(user_ids[index::PUBLISHERS], handle)
            handle.close()
            files.append(handle.name)
            processes.append(subprocess.Popen(
                [stack.python, "devtools/bench/ws_publisher.py", "--users-file", handle.name,
                 "--seconds", str(seconds), "--interval", str(INTERVAL), "--start-at", str(start_at)],
                cwd=stack.root, env=stack.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ))

        async def hold_until_done():
            for process in processes:
                out, err = await asyncio.to_thread(process.communicate, timeout=seconds + connect_budget + 120)
                if process.returncode:
                    raise RuntimeError(f"publisher failed: {err[-1500:]}")
                publisher_results.append(json.loads(out.strip().splitlines()[-1]))

        return await _clients(stack.base_urls, sessions, user_ids, start_at, hold_until_done, grace=2.0), start_at

    (received, latencies, failures, connected, connected_at), start_at = asyncio.run(scenario())
    peaks = ctx.rss.peaks() if ctx.rss else {}
    cpu = ctx.rss.cpu_used() if ctx.rss else {}
    sent = {}
    for result in publisher_results:
        sent.update({int(k): v for k, v in result["sent"].items()})
    late = sum(r["late"] for r in publisher_results)
    publisher_cpu = sum(r.get("cpu_seconds", 0) for r in publisher_results)
    total_sent, total_received = sum(sent.values()), sum(received.values())
    dropped = total_sent - total_received
    summary = latency_summary(latencies)
    met = (summary["p99_ms"] is not None and summary["p99_ms"] <= 100 and dropped == 0
           and connected == clients)
    return [row(
        f"websockets ({clients} clients, 2 ev/s each)", target=TARGET, **summary,
        throughput=round(total_received / seconds, 1), throughput_unit="events/s delivered",
        peak_rss_mb=peaks.get("web"), met=met,
        detail=(f"{connected}/{clients} connected (ready {max(0.0, start_at - connected_at):.0f} s before publishing); "
                f"{total_sent} sent, {total_received} received, {dropped} dropped; publisher late sends (>100 ms) {late}; "
                f"channel layer {stack.env().get('CHANNELS_LAYER') or 'pubsub'}; "
                f"{len(stack.base_urls)} web process(es); peak RSS web {peaks.get('web')} MB; web CPU "
                f"{1000 * cpu.get('web', 0) / max(1, total_received):.2f} ms per delivered event, publishers "
                f"{1000 * publisher_cpu / max(1, total_sent):.2f} ms per sent event"
                + (f"; {len(failures)} socket failures, first: {failures[0]}" if failures else "")),
    )]
