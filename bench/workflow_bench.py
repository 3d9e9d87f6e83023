"""Workflow engine benchmark: scheduling overhead per node on a 52-node fan-out/fan-in graph.

    .venv/bin/python bench/workflow_bench.py [--runs 5] [--concurrency 4] [--pool prefork|threads] [--quick]
                                             [--mode worker|eager]

The graph is a photo input → 50 reroutes (free no-op nodes) → 1 reroute joining them all, so the
figures are the engine's own cost: claiming a node, recording its result, unblocking children,
publishing live events, and the trip through the broker to a worker. Every run forces a re-run
(no cache). A hop is "a parent finished → its child started" (`finished_at` of the last parent to
finish → `started_at` of the child); the fan-out hops also include waiting for a free worker slot
behind the siblings, so the fan-in hop and the fastest fan-out hop show the bare latency.

`--mode worker` (the default when PostgreSQL and Redis answer) starts a real Celery worker
(threads pool) against PostgreSQL (`DATABASE_URL`, default database `darkroom_bench` on
127.0.0.1) and Redis (`REDIS_URL`, default db 14); `--mode eager` runs tasks inline in this
process. Writes bench/results/workflows.json.
"""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "workflows.json"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/darkroom_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"  # 9: unit tests; 10, 11, 13: live tests
FAN_OUT = 50


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _ensure_database(url: str) -> None:
    from urllib.parse import urlparse

    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def _setup(mode: str, var_dir: str) -> dict:
    env = {"DARKROOM_VAR_DIR": var_dir, "DJANGO_SETTINGS_MODULE": "config.settings.base",
           "SECRET_KEY": "bench-only-secret-key-that-is-long-enough-for-django-0123456789",
           "LOG_LEVEL": "WARNING", "WORKFLOW_NODE_STALE_SECONDS": "600"}
    if mode == "worker":
        env["DATABASE_URL"] = os.environ.get("DATABASE_URL") or DEFAULT_DB
        env["REDIS_URL"] = os.environ.get("REDIS_URL") or DEFAULT_REDIS
        _ensure_database(env["DATABASE_URL"])
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if mode == "eager":
        settings.CELERY_TASK_ALWAYS_EAGER = True
        from config.celery import app

        app.conf.task_always_eager = True
    call_command("migrate", verbosity=0, interactive=False)
    return env


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
    import io

    from PIL import Image

    from apps.media.services import upload_create

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(out, format="PNG")
    return upload_create(user=user, content=out.getvalue(), filename="bench.png")


def _wait(run, timeout: float = 120) -> None:
    from apps.workflows.models import RunStatus, WorkflowRun

    deadline = time.monotonic() + timeout
    while WorkflowRun.objects.get(pk=run.pk).status == RunStatus.RUNNING:
        if time.monotonic() > deadline:
            raise SystemExit("the run did not finish in time: is the worker up?")
        time.sleep(0.02)


def _hops(run) -> dict:
    from apps.workflows.models import NodeRun

    nodes = {n.node_id: n for n in NodeRun.objects.filter(run=run)}
    assert all(n.status == "succeeded" for n in nodes.values()), "a node did not succeed"

    def ms(a, b):
        return (b - a).total_seconds() * 1000

    fan_out = [ms(nodes["photo"].finished_at, nodes[f"r{i:02d}"].started_at) for i in range(FAN_OUT)]
    last_parent = max(nodes[f"r{i:02d}"].finished_at for i in range(FAN_OUT))
    fan_in = ms(last_parent, nodes["join"].started_at)
    execute = [ms(n.started_at, n.finished_at) for n in nodes.values()]
    run_ms = ms(min(n.queued_at for n in nodes.values()), nodes["join"].finished_at)
    return {"fan_out": fan_out, "fan_in": fan_in, "execute": execute, "run_ms": run_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("WORKER_CONCURRENCY") or 4),
                        help="worker processes (threads); the Procfile's default is 4")
    parser.add_argument("--pool", choices=["prefork", "threads"], default="prefork",
                        help="the worker pool: prefork as the Procfile runs it, threads as embedded mode does")
    parser.add_argument("--mode", choices=["worker", "eager"], default=None)
    parser.add_argument("--quick", action="store_true", help="2 runs")
    args, _ = parser.parse_known_args()
    runs = 2 if args.quick else args.runs
    mode = args.mode or ("worker" if _reachable("127.0.0.1", 5432) and _reachable("127.0.0.1", 6379) else "eager")

    var_dir = tempfile.mkdtemp(prefix="darkroom-bench-")
    env = _setup(mode, var_dir)
    from apps.accounts.models import User
    from apps.workflows import services

    user, _ = User.objects.get_or_create(email="bench@example.com")
    photo = _photo(user)
    workflow = services.workflow_create(user=user, name="bench fan-out/fan-in", graph=_graph())

    worker = None
    if mode == "worker":
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,io,media", "--pool", args.pool,
             "--concurrency", str(args.concurrency), "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    try:
        samples = []
        for index in range(runs + 1):  # the first run warms the worker up and is not counted
            run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)},
                                     force_rerun=True)
            _wait(run)
            if index:
                samples.append(_hops(run))
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)

    fan_out = [hop for sample in samples for hop in sample["fan_out"]]
    all_hops = fan_out + [sample["fan_in"] for sample in samples]
    execute = [value for sample in samples for value in sample["execute"]]

    def q(values, pct):
        values = sorted(values)
        return round(values[min(len(values) - 1, int(len(values) * pct))], 2)

    result = {
        "benchmark": "workflow scheduling overhead (52-node fan-out/fan-in of free reroute nodes)",
        "mode": mode, "pool": args.pool if mode == "worker" else None,
        "worker_concurrency": args.concurrency if mode == "worker" else 1, "runs": runs,
        "nodes_per_run": FAN_OUT + 2,
        "parent_finish_to_child_start_ms": {
            "median": round(statistics.median(all_hops), 2), "p95": q(all_hops, 0.95),
            "fan_in_median": round(statistics.median(s["fan_in"] for s in samples), 2),
            "fan_out_fastest_median": round(statistics.median(min(s["fan_out"]) for s in samples), 2),
            "fan_out_median": round(statistics.median(fan_out), 2),
        },
        "node_claim_to_finish_ms_median": round(statistics.median(execute), 2),
        "run_wall_ms_median": round(statistics.median(s["run_ms"] for s in samples), 1),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    hops = result["parent_finish_to_child_start_ms"]
    print(f"workflow engine, {mode} mode ({result['worker_concurrency']} × {result['pool'] or 'inline'}), {runs} runs of "
          f"{result['nodes_per_run']} nodes")
    print(f"  parent finish → child start: median {hops['median']} ms, p95 {hops['p95']} ms")
    print(f"    fan-in hop (one child, no queue): median {hops['fan_in_median']} ms")
    print(f"    fastest fan-out hop per run:      median {hops['fan_out_fastest_median']} ms")
    print(f"    all fan-out hops (incl. waiting for a free worker): median {hops['fan_out_median']} ms")
    print(f"  node claim → finish (engine work of a no-op node): median {result['node_claim_to_finish_ms_median']} ms")
    print(f"  whole run: median {result['run_wall_ms_median']} ms")
    print(f"  → {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
