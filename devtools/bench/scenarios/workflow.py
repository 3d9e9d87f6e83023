"""Workflow engine scheduling overhead on a 52-node fan-out/fan-in graph of free nodes.

The graph is a photo input → 50 reroutes (no-op nodes) → 1 reroute joining them all, so every
figure is the engine's own cost: claiming a node, recording its result, unblocking children,
publishing live events, and the trip through the broker to a worker. Every run forces a re-run
(no cache). Two measurements, in a child process against a fresh PostgreSQL database:

* worker: a real Celery worker (prefork, 4 processes, queues default,io,media as the Procfile runs
  it) on Redis. A hop is "a parent finished → its child started" (`finished_at` of the last parent
  → `started_at` of the child). The fan-out hops include waiting for a free worker slot behind
  the siblings, so the fan-in hop and the fastest fan-out hop show the bare latency; "per node" is
  the whole run's wall time divided by its nodes.
* inline: the same graph with tasks run eagerly in this process, so the CPU time and the queries
  of the whole run divided by its nodes are the engine's work per node, with no broker or queueing.

Goal (per node, median): scheduling overhead ≤ 10 ms.

Side by side: a bare Celery chord of the same shape (devtools/bench/chord.py: one task, a chord of
50 no-op tasks and a joining callback) on the same Redis and worker settings, its worker running
beside the engine's and its runs interleaved with the engine's. Targets: the engine's wall time
per node ≤ 1.5 × the chord's, and the fan-in hop ≤ 10 ms.
"""

import io
import os
import statistics
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

from devtools.bench.scenarios import latency_summary, row
from devtools.bench.scenarios._inproc import child_main, peak_rss_mb, run_child
from devtools.stack import redis_flush

NAME = "workflow"
ORDER = 70
FAN_OUT = 50
GOAL_MS = 10.0
CHORD_RATIO_GOAL = 1.5
FAN_IN_GOAL_MS = 10.0
CONCURRENCY = int(os.environ.get("BENCH_WORKER_CONCURRENCY") or 4)


def run(ctx) -> list[dict]:
    # A Redis database of its own: the stack's worker (started by earlier scenarios) listens on the
    # bench's queues and would take these tasks for a database where the run does not exist.
    parts = urlsplit(ctx.redis_url)
    redis_url = urlunsplit(parts._replace(path=f"/{(int(parts.path.strip('/') or 0) + 1) % 16}"))
    redis_flush(redis_url)
    return run_child(ctx, "devtools.bench.scenarios.workflow", env={
        "DATABASE_URL": ctx.database_url("workflow"), "WORKFLOW_NODE_STALE_SECONDS": "600",
        "REDIS_URL": redis_url,
    })


def _graph() -> dict:
    nodes = [{"id": "photo", "type": "input_photo"}]
    edges = []
    for index in range(FAN_OUT):
        nodes.append({"id": f"r{index:02d}", "type": "reroute"})
        edges.append({"from": "photo", "from_port": "image", "to": f"r{index:02d}", "to_port": "image"})
        edges.append({"from": f"r{index:02d}", "from_port": "image", "to": "join", "to_port": "image"})
    nodes.append({"id": "join", "type": "reroute"})
    return {"nodes": nodes, "edges": edges}


def _photo(user):
    from PIL import Image

    from apps.media.services import upload_create

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(out, format="PNG")
    return upload_create(user=user, content=out.getvalue(), filename="bench.png")


def _wait(run, timeout: float = 180) -> None:
    from apps.workflows.models import RunStatus, WorkflowRun

    deadline = time.monotonic() + timeout
    while WorkflowRun.objects.get(pk=run.pk).status == RunStatus.RUNNING:
        if time.monotonic() > deadline:
            raise RuntimeError("the workflow run did not finish in time: is the worker up?")
        time.sleep(0.02)


def _hops(run) -> dict:
    from apps.workflows.models import NodeRun

    nodes = {n.node_id: n for n in NodeRun.objects.filter(run=run)}
    if any(n.status != "succeeded" for n in nodes.values()):
        raise RuntimeError("a node did not succeed")

    def seconds(a, b):
        return (b - a).total_seconds()

    fan_out = [seconds(nodes["photo"].finished_at, nodes[f"r{i:02d}"].started_at) for i in range(FAN_OUT)]
    last_parent = max(nodes[f"r{i:02d}"].finished_at for i in range(FAN_OUT))
    return {
        "fan_out": fan_out, "fan_in": seconds(last_parent, nodes["join"].started_at),
        "execute": [seconds(n.started_at, n.finished_at) for n in nodes.values()],
        "run": seconds(min(n.queued_at for n in nodes.values()), nodes["join"].finished_at),
    }


def _celery_worker(app: str, queues: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queues, "--pool", "prefork",
         "--concurrency", str(CONCURRENCY), "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
         "--without-heartbeat"],
        env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _worker_runs(user, workflow, photo, runs: int) -> tuple[list[dict], list[dict]]:
    """The engine's runs and the bare chord's, interleaved (alternating which goes first)."""
    from apps.workflows import services
    from devtools.bench import chord

    workers = [_celery_worker("config", "default,io,media"), _celery_worker("devtools.bench.chord", "bench-chord")]
    try:
        samples, chord_samples = [], []
        for index in range(runs + 1):  # the first run warms the workers up and is not counted
            def engine():
                run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)},
                                         force_rerun=True)
                _wait(run)
                return _hops(run)

            def bare():
                return chord.run_once(FAN_OUT)

            order = (engine, bare) if index % 2 == 0 else (bare, engine)
            results = {f: f() for f in order}
            if index:
                samples.append(results[engine])
                chord_samples.append(results[bare])
        return samples, chord_samples
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)


def _inline_runs(user, workflow, photo, runs: int) -> dict:
    """CPU seconds, wall seconds and queries per node with every task run inline."""
    from django.conf import settings
    from django.db import connection

    from apps.workflows import services
    from config.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = app.conf.task_always_eager = True
    queries = []

    def counter(execute, sql, params, many, context):
        queries.append(1)
        return execute(sql, params, many, context)

    cpu, wall, per_node_queries = [], [], []
    nodes = FAN_OUT + 2
    try:
        for index in range(runs + 1):
            queries.clear()
            cpu_started, started = time.process_time(), time.perf_counter()
            with connection.execute_wrapper(counter):
                run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)},
                                         force_rerun=True)
                _wait(run, timeout=60)
            if index:
                wall.append((time.perf_counter() - started) / nodes)
                cpu.append((time.process_time() - cpu_started) / nodes)
                per_node_queries.append(len(queries) / nodes)
    finally:
        settings.CELERY_TASK_ALWAYS_EAGER = app.conf.task_always_eager = False
    return {"cpu": cpu, "wall": wall, "queries": per_node_queries}


def measure(quick: bool) -> list[dict]:
    from django.core.management import call_command

    from apps.accounts.models import User
    from apps.workflows import services

    runs = 1 if quick else 6
    call_command("migrate", verbosity=0, interactive=False)
    user, _ = User.objects.get_or_create(email="bench-workflow@example.com")
    photo = _photo(user)
    workflow = services.workflow_create(user=user, name="bench fan-out/fan-in", graph=_graph())
    nodes = FAN_OUT + 2

    samples, chord_samples = _worker_runs(user, workflow, photo, runs)
    fan_out = [hop for s in samples for hop in s["fan_out"]]
    hops = fan_out + [s["fan_in"] for s in samples]
    per_node = [s["run"] / nodes for s in samples]
    execute = [value for s in samples for value in s["execute"]]
    inline = _inline_runs(user, workflow, photo, runs)
    hop_summary = latency_summary(hops)
    per_node_summary = latency_summary(per_node)
    setting = f"{runs} runs of {nodes} nodes, {CONCURRENCY} prefork worker processes"
    engine_node = statistics.median(per_node) * 1000
    chord_node = statistics.median(s["run"] / nodes for s in chord_samples) * 1000
    fan_in = statistics.median(s["fan_in"] for s in samples) * 1000
    chord_fan_in = statistics.median(s["fan_in"] for s in chord_samples) * 1000
    chord_fan_out = statistics.median(h for s in chord_samples for h in s["fan_out"]) * 1000
    return [
        row("DAG per node: engine vs Celery chord", target=f"≤ {CHORD_RATIO_GOAL}× the chord",
            median_ms=round(engine_node, 2), peer=f"chord {chord_node:.2f} ms", ratio=round(engine_node / chord_node, 2),
            met=engine_node <= CHORD_RATIO_GOAL * chord_node,
            detail=(f"{setting}, runs interleaved with a bare chain(task, chord(50 tasks, join)) on the same Redis "
                    f"(result backend Redis); whole run median engine {statistics.median(s['run'] for s in samples) * 1000:.0f} "
                    f"ms, chord {statistics.median(s['run'] for s in chord_samples) * 1000:.0f} ms; chord fan-out hop "
                    f"median {chord_fan_out:.1f} ms")),
        row("DAG fan-in hop (last parent → join start)", target=f"≤ {FAN_IN_GOAL_MS:.0f} ms", median_ms=round(fan_in, 2),
            peer=f"chord {chord_fan_in:.2f} ms", ratio=round(fan_in / chord_fan_in, 2) if chord_fan_in > 0 else None,
            met=fan_in <= FAN_IN_GOAL_MS, detail=f"{setting}; medians over the runs"),
        row("workflow: parent finish → child start (all hops)", target=f"median ≤ {GOAL_MS:.0f} ms", **hop_summary,
            met=hop_summary["median_ms"] <= GOAL_MS,
            detail=(f"{setting}; fan-in hop median {statistics.median(s['fan_in'] for s in samples) * 1000:.1f} ms, "
                    f"fastest fan-out hop median {statistics.median(min(s['fan_out']) for s in samples) * 1000:.1f} ms, "
                    f"node claim → finish median {statistics.median(execute) * 1000:.1f} ms")),
        row("workflow: run wall time per node (worker)", target=f"median ≤ {GOAL_MS:.0f} ms", **per_node_summary,
            throughput=round(1 / statistics.median(per_node), 1), throughput_unit="nodes/s",
            met=per_node_summary["median_ms"] <= GOAL_MS,
            detail=f"{setting}; whole run median {statistics.median(s['run'] for s in samples) * 1000:.0f} ms"),
        row("workflow: engine CPU per node (inline)", target=f"median ≤ {GOAL_MS:.0f} ms",
            **latency_summary(inline["cpu"]), peak_rss_mb=peak_rss_mb(),
            throughput=round(1 / statistics.median(inline["wall"]), 1), throughput_unit="nodes/s, one process",
            met=statistics.median(inline["cpu"]) * 1000 <= GOAL_MS,
            detail=(f"{runs} inline runs; wall {statistics.median(inline['wall']) * 1000:.1f} ms and "
                    f"{statistics.median(inline['queries']):.1f} queries per node (CPU of this process only; "
                    f"PostgreSQL's and Redis's own work is on top)")),
    ]


if __name__ == "__main__":
    child_main(measure)
