"""The DAG rows' peer: a bare Celery chord shaped like the bench's workflow graph.

    celery -A devtools.bench.chord worker …     (the workflow scenario starts it)

One task (the photo), then a chord of 50 no-op tasks whose callback is one task joining them: the
same 52-node fan-out/fan-in as the engine's graph, on the same Redis broker and worker settings
(prefork, acks late, prefetch 1, JSON), with Redis as the result backend a chord needs. Each task
returns when it started and ended, so the hops are measured as the engine's are. No Django.
"""

import os
import time

from celery import Celery, chain, chord

BROKER = os.environ.get("CHORD_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"

# Not the current app: the bench process that imports this also sends the engine's tasks.
app = Celery("bench_chord", broker=BROKER, backend=BROKER, set_as_current=False)
app.conf.update(
    task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
    task_serializer="json", accept_content=["json"], result_serializer="json",
    task_default_queue="bench-chord", broker_connection_retry_on_startup=True,
    result_expires=600, worker_hijack_root_logger=False,
)


@app.task(name="bench_chord.node")
def node(*parents):
    started = time.time()
    # The head's result arrives as the argument: when it ended is the fan-out hop's start.
    return {"started": started, "ended": time.time(), "head_ended": parents[0]["ended"] if parents else None}


@app.task(name="bench_chord.join")
def join(parents):
    started = time.time()
    return {"started": started, "ended": time.time(), "parents": parents}


def run_once(fan_out: int, timeout: float = 120) -> dict:
    """Run the graph once: wall time from sending to the join's end, and the hops."""
    queued = time.time()
    head = node.s()
    result = chain(head, chord([node.s() for _ in range(fan_out)], join.s())).apply_async()
    joined = result.get(timeout=timeout, disable_sync_subtasks=False)
    parents = joined["parents"]
    return {
        "fan_out": [p["started"] - p["head_ended"] for p in parents],
        "fan_in": joined["started"] - max(p["ended"] for p in parents),
        "run": joined["ended"] - queued,
    }
