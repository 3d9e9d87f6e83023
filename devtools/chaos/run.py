#!/usr/bin/env python
"""`make chaos`: fault scenarios against Darkroom's production shape, each followed by the same checks.

It starts its own PostgreSQL and Redis (on private ports and data directories — never the ones
other programs use), migrates, and runs daphne, Celery workers, Celery beat and the provider
simulator as separate processes, all on loopback. Each scenario injects one kind of fault while
jobs run, waits for every job to end, and checks the invariants:

* every generation and workflow run reaches a terminal state, by its deadline;
* `manage.py credits_reconcile` reports no mismatch;
* no generation is charged twice, none is charged on failure (the ledger, per generation);
* no output is stored twice (rows per generation and index, and the files on disk).

One table is printed; the full figures go to devtools/chaos/results/chaos-<time>.json.

    python devtools/chaos/run.py                  # every scenario, full size (about 17 minutes)
    python devtools/chaos/run.py --quick          # short versions (what `make test` runs)
    python devtools/chaos/run.py --only kill9,redis --load-seconds 60
    python devtools/chaos/run.py --only hostile --hostile-seconds 60
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import http.server
import io
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from devtools import standins  # noqa: E402
from devtools.stack import (  # noqa: E402
    HOST,
    PrivateServices,
    Stack,
    free_ports,
    log,
    open_socket,
    pool_children,
    rss_mb,
)

# websockets' sync client warns about connect() outside a with-block; the sockets here live longer.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=__name__)
RESULTS = ROOT / "devtools" / "chaos" / "results"
SCENARIOS = ("kill9", "redis", "postgres", "load", "webhooks", "providers", "hostile")
# Past a job's deadline the beat reaper fails it on its next pass: allow one pass and a little.
DEADLINE_GRACE = timedelta(seconds=20)
SECRET_KEY = "chaos-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH"
# Long enough per job that kills land mid-run, short enough for hundreds of jobs; limits off.
CHAOS_ENV = {
    "LOG_LEVEL": "WARNING",
    "OFFLINE_ENGINE_STEPS": "8",
    "OFFLINE_ENGINE_STEP_DELAY_MS": "120",
    "PROVIDER_POLL_INTERVAL": "1",
    "SIGNUP_GRANT_CREDITS": "1000000",
    "RATE_LIMIT_GENERATIONS_PER_HOUR": "0",
    "RATE_LIMIT_CONCURRENT_JOBS": "0",
    "USER_DAILY_SPEND_CAP": "0",
    "DAILY_SPEND_ALERT_CREDITS": "0",
}


class WebhookProxy:
    """Sits between the simulator and Darkroom's webhook endpoint: every delivery is copied,
    shuffled (each copy sent after a random delay) and kept, so all can be replayed later."""

    def __init__(self, port: int, target: str, copies: int):
        self.port, self.target, self.copies = port, target, copies
        self.received: list[tuple[str, bytes, dict]] = []
        self.statuses: dict[int, int] = {}
        self.pool = futures.ThreadPoolExecutor(max_workers=16)
        self.client = httpx.Client(timeout=30, trust_env=False)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}}
                proxy.received.append((self.path, body, headers))
                for _ in range(proxy.copies):
                    proxy.pool.submit(proxy.forward, self.path, body, headers, random.uniform(0, 1.5))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((HOST, port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, path: str, body: bytes, headers: dict, delay: float) -> None:
        time.sleep(delay)
        try:
            status = self.client.post(self.target + path, content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = 0
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def replay_all(self) -> int:
        deliveries = list(self.received)
        random.shuffle(deliveries)
        jobs = [self.pool.submit(self.forward, path, body, headers, 0) for path, body, headers in deliveries]
        futures.wait(jobs)
        return len(deliveries)

    def close(self) -> None:
        self.server.shutdown()
        self.pool.shutdown(wait=True)


def chaos_stack(workdir: Path, ports: dict[str, int], services: PrivateServices) -> Stack:
    """web (daphne), two workers, beat and the provider simulator on the private services; provider
    webhooks go through the WebhookProxy on ports["proxy"]."""
    stack = Stack(
        workdir=workdir, name="chaos", database_url=services.database_url, redis_url=services.redis_url,
        web_ports=[ports["web"]], workers=2, worker_pool="prefork", worker_concurrency=3, beat=True,
        simulator=ports["simulator"], secret_key=SECRET_KEY,
        env={**CHAOS_ENV, "PROVIDER_WEBHOOK_BASE_URL": f"http://{HOST}:{ports['proxy']}"},
    )
    stack.services = services
    stack.proxy = None
    return stack


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))], 4)


# ---------------------------------------------------------------- Django side: accounts and checks


def django_setup(stack: Stack) -> None:
    env = stack.env()
    os.environ.update({k: v for k, v in env.items() if k in (
        "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "MEDIA_ROOT", "DARKROOM_VAR_DIR",
        "SIGNUP_GRANT_CREDITS", "LOG_LEVEL", *standins.simulator_env(stack.simulator_url))})
    import django

    django.setup()


class Client:
    """One simulated person: an account, an API key and a logged-in session, talking HTTP and websockets."""

    def __init__(self, stack: Stack, index: int, tag: str):
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.sessions.backends.db import SessionStore

        from apps.accounts.services import api_key_create, user_create

        self.stack = stack
        # No password: hashing one costs a second of CPU here, and these people log in by session.
        self.user = user_create(email=f"{tag}-{index}-{random.randrange(10**9)}@chaos.test")
        self.secret = api_key_create(user=self.user, name="chaos").secret
        session = SessionStore()
        session[SESSION_KEY] = str(self.user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = self.user.get_session_auth_hash()
        session.create()
        self.cookie = session.session_key
        self.api = httpx.Client(base_url=stack.base_url + "/api/v1", timeout=30, trust_env=False,
                                headers={"Authorization": f"Bearer {self.secret}"})
        self.pages = httpx.Client(base_url=stack.base_url, timeout=30, trust_env=False,
                                  cookies={"sessionid": self.cookie})

    def submit(self, model: str = "offline-sketch", **extra) -> httpx.Response:
        body = {"model": model, "prompt": f"chaos study {random.randrange(10**9)}", "tier": extra.pop("tier", None),
                "num_images": 1, **extra}
        return self.api.post("/generations", json={k: v for k, v in body.items() if v is not None})

    def websocket(self):
        return open_socket(self.stack.ws_url, cookie=self.cookie,
                           origin=self.stack.base_url)


def submit_many(clients: list[Client], count: int, *, model: str = "offline-sketch", workers: int = 8,
                stop_early=None) -> tuple[list[str], dict[int, int]]:
    ids, statuses = [], {}
    lock = threading.Lock()

    def one(i: int):
        try:
            response = clients[i % len(clients)].submit(model)
            status = response.status_code
        except httpx.HTTPError:
            status, response = 0, None
        with lock:
            statuses[status] = statuses.get(status, 0) + 1
            if status == 201:
                ids.append(response.json()["id"])

    with futures.ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, range(count)))
    return ids, statuses


def workflow_runs(clients: list[Client], count: int) -> list[str]:
    from apps.workflows.services import workflow_from_starter

    ids = []
    for i in range(count):
        client = clients[i % len(clients)]
        workflow = workflow_from_starter(user=client.user, starter_key="four-variations-best")
        response = client.api.post(f"/workflows/{workflow.pk}/runs",
                                   json={"inputs": {"prompt": f"chaos run {random.randrange(10**9)}"}})
        if response.status_code == 201:
            ids.append(response.json()["id"])
        else:
            log(f"workflow run not started: {response.status_code} {response.text[:200]}")
    return ids


def wait_terminal(generation_ids: list[str], run_ids: list[str], *, timeout: float, stack: Stack,
                  supervise: bool = False) -> float:
    from django.db import close_old_connections, connection

    from apps.generations.models import ACTIVE, Generation
    from apps.workflows.models import RunStatus, WorkflowRun

    started = time.monotonic()
    while True:
        try:
            close_old_connections()
            active = Generation.objects.filter(pk__in=generation_ids, status__in=ACTIVE).count()
            running = WorkflowRun.objects.filter(pk__in=run_ids, status=RunStatus.RUNNING).count()
        except Exception:  # the database may be restarting
            connection.close()
            active = running = -1
        if active == 0 and running == 0:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            log(f"still active after {timeout:.0f} s: {active} generations, {running} runs")
            return time.monotonic() - started
        if supervise:
            stack.workers_supervise()
        for process in [*stack.web, *stack.workers]:
            process.check_alive()
        time.sleep(1)


def check_invariants(stack: Stack, generation_ids: list[str], run_ids: list[str]) -> dict:
    from django.db import connection
    from django.db.models import Count, Q

    from apps.credits.models import LedgerEntry
    from apps.generations.models import ACTIVE, Generation, GenerationImage, Status
    from apps.workflows.models import RunStatus, WorkflowRun

    connection.close()
    generations = Generation.objects.filter(pk__in=generation_ids)
    statuses = dict(generations.values_list("status").annotate(n=Count("pk")))
    error_codes = dict(generations.exclude(error_code="").values_list("error_code").annotate(n=Count("pk")))
    late = [g for g in generations.exclude(status__in=ACTIVE).values("finished_at", "deadline_at")
            if g["finished_at"] and g["deadline_at"] and g["finished_at"] > g["deadline_at"] + DEADLINE_GRACE]
    ledger = {
        row["generation"]: row for row in LedgerEntry.objects.filter(generation__in=generation_ids)
        .values("generation").annotate(
            reserves=Count("pk", filter=Q(kind="reserve")), captures=Count("pk", filter=Q(kind="capture")),
            releases=Count("pk", filter=Q(kind="release")),
        )
    }
    double_charged = charged_on_failure = unsettled = 0
    for generation_id, status in generations.values_list("pk", "status"):
        row = ledger.get(generation_id, {"reserves": 0, "captures": 0, "releases": 0})
        if row["captures"] > 1 or row["reserves"] > 1 or row["captures"] + row["releases"] > 1:
            double_charged += 1
        if status != Status.SUCCEEDED and row["captures"]:
            charged_on_failure += 1
        if status not in ACTIVE and row["captures"] + row["releases"] != 1:
            unsettled += 1
    # Outputs: one row per (generation, index), the right count, and no stray files on disk.
    images = GenerationImage.objects.filter(generation__in=generation_ids)
    duplicate_rows = images.values("generation", "index").annotate(n=Count("pk")).filter(n__gt=1).count()
    wrong_count = 0
    stray_files = 0
    media = stack.workdir / "media"
    for generation in generations.filter(status=Status.SUCCEEDED).annotate(n=Count("images")):
        if generation.n != generation.num_images:
            wrong_count += 1
        folder = media / "generations" / str(generation.owner_id) / str(generation.id)
        if folder.exists():
            stray_files += max(0, len(list(folder.iterdir())) - 3 * generation.num_images)
    same_hash_twice = (
        images.values("generation", "sha256").annotate(n=Count("pk")).filter(n__gt=1).count()
    )
    runs = dict(WorkflowRun.objects.filter(pk__in=run_ids).values_list("status").annotate(n=Count("pk")))
    from django.core.management import call_command

    out = io.StringIO()
    try:
        call_command("credits_reconcile", "--json", stdout=out)
    except SystemExit:
        pass  # exit 1 on a mismatch: the report says which
    try:
        report = json.loads(out.getvalue())
        mismatches = sum(len(report[k]) for k in ("balance_mismatches", "settlement_mismatches", "spend_mismatches"))
    except (json.JSONDecodeError, KeyError):
        mismatches = -1
    active = sum(statuses.get(s, 0) for s in ACTIVE)
    result = {
        "generations": len(generation_ids), "statuses": statuses, "error_codes": error_codes, "runs": len(run_ids), "run_statuses": runs,
        "active_left": active + runs.get(RunStatus.RUNNING, 0), "past_deadline": len(late),
        "reconcile_mismatches": mismatches, "double_charged": double_charged,
        "charged_on_failure": charged_on_failure, "unsettled": unsettled,
        "duplicate_output_rows": duplicate_rows, "duplicate_output_hashes": same_hash_twice,
        "wrong_output_count": wrong_count, "stray_files": stray_files,
    }
    result["held"] = all(result[k] == 0 for k in (
        "active_left", "past_deadline", "reconcile_mismatches", "double_charged", "charged_on_failure",
        "unsettled", "duplicate_output_rows", "duplicate_output_hashes", "wrong_output_count", "stray_files",
    ))
    return result


def succeeded_share(check: dict) -> float:
    return check["statuses"].get("succeeded", 0) / max(1, check["generations"])


# ---------------------------------------------------------------- scenarios


def scenario_kill9(stack: Stack, size: dict) -> dict:
    """kill -9 of pool children and of whole workers while generations and workflow runs go on."""
    from apps.generations.models import ACTIVE, Generation

    stack.workers_replace(pool="prefork", concurrency=3)
    clients = [Client(stack, i, "kill9") for i in range(5)]
    stop = threading.Event()
    kills = {"pool_child": 0, "whole_worker": 0}
    resumes: list[float] = []

    def killer():
        rng = random.Random(9)
        while not stop.wait(rng.uniform(*size["kill_every"])) and sum(kills.values()) < size["kills"]:
            alive = [w for w in stack.workers if w.proc.poll() is None]
            if not alive:
                continue
            victim = rng.choice(alive)
            before = dict(Generation.objects.filter(status__in=ACTIVE[1:]).values_list("pk", "revision"))
            if rng.random() < 0.5 and pool_children(victim.proc.pid):
                os.kill(rng.choice(pool_children(victim.proc.pid)), signal.SIGKILL)
                kills["pool_child"] += 1
            else:
                os.killpg(victim.proc.pid, signal.SIGKILL)
                victim.proc.wait()
                stack.workers.remove(victim)
                kills["whole_worker"] += 1
                stack.worker_start()  # a supervisor would restart it
            killed_at = time.monotonic()
            threading.Thread(target=watch_resume, args=(before, killed_at), daemon=True).start()

    def watch_resume(before: dict, killed_at: float):
        # Jobs that were mid-run at the kill: time until each moves again (or ends).
        from django.db import close_old_connections

        pending = dict(before)
        stalled = set()
        while pending and time.monotonic() - killed_at < 240:
            time.sleep(0.5)
            close_old_connections()
            now = dict(Generation.objects.filter(pk__in=list(pending)).values_list("pk", "revision"))
            for pk in list(pending):
                if now.get(pk) != pending[pk]:
                    if pk in stalled:
                        resumes.append(round(time.monotonic() - killed_at, 1))
                    del pending[pk]
                elif time.monotonic() - killed_at > 3:
                    stalled.add(pk)  # not moving 3 s after the kill: its worker was the one killed
        resumes.extend([None] * len(stalled & set(pending)))

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    runs = workflow_runs(clients, size["runs"])
    ids, statuses = submit_many(clients, size["generations"])
    took = wait_terminal(ids, runs, timeout=size["wait"], stack=stack)
    stop.set()
    thread.join()
    check = check_invariants(stack, ids, runs)
    waited = [r for r in resumes if r is not None]
    check.update(
        injected="kill -9 workers", amount=f"{kills['pool_child']} pool children, {kills['whole_worker']} whole workers",
        submit_statuses=statuses, seconds=round(took, 1), stalled_jobs=len(resumes),
        resume_p50=percentile(waited, 50), resume_max=max(waited) if waited else None,
        never_resumed=len(resumes) - len(waited),
    )
    check["held"] = check["held"] and check["never_resumed"] == 0
    if not size["quick"]:  # the recovery-time goal is measured in full runs, not asserted by the test suite
        check["held"] = check["held"] and (not waited or max(waited) <= 60)
    check["note"] = f"stalled jobs resumed in p50 {check['resume_p50']} s, max {check['resume_max']} s"
    return check


def scenario_redis(stack: Stack, size: dict) -> dict:
    """Redis killed mid-run (its queue and unacked messages are lost: no persistence) and restarted."""
    stack.workers_replace(pool="prefork", concurrency=3)
    clients = [Client(stack, i, "redis") for i in range(4)]
    sockets = [c.websocket() for c in clients]
    ids, _ = submit_many(clients, size["generations"] // 2)
    time.sleep(1.5)
    stack.services.redis_kill()
    down_at = time.monotonic()
    page_statuses: dict[int, int] = {}
    submit_statuses: dict[int, int] = {}
    while time.monotonic() - down_at < size["outage"]:
        for client in clients:
            for path, bucket in (("/", page_statuses),):
                try:
                    status = client.pages.get(path).status_code
                except httpx.HTTPError:
                    status = 0
                bucket[status] = bucket.get(status, 0) + 1
            try:
                status = client.api.get("/generations?limit=5").status_code
            except httpx.HTTPError:
                status = 0
            page_statuses[status] = page_statuses.get(status, 0) + 1
        time.sleep(0.3)
    more, submit_statuses = submit_many(clients, 4)  # during the outage: held, or refused cleanly
    ids += more
    stack.services.redis_start()
    # Websockets: the ones that broke reconnect; every client then reads its jobs back from the API.
    closed = reconnected = reconnect_failures = 0
    for i, ws in enumerate(sockets):
        try:
            ws.ping().wait(2)
        except Exception:
            closed += 1
        try:
            ws.close()
        except Exception:
            pass
        for attempt in range(10):  # as a browser does: retry with a pause
            try:
                sockets[i] = clients[i].websocket()
                reconnected += 1
                break
            except Exception as error:
                reconnect_failures += 1
                log(f"websocket reconnect attempt {attempt + 1} failed: {error}")
                time.sleep(0.5)
    after, after_statuses = submit_many(clients, size["generations"] // 2)
    ids += after
    live_events = 0
    if after:
        # A reconnected socket hears about new jobs again.
        target = set(after)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and live_events == 0:
            for ws in sockets:
                try:
                    message = json.loads(ws.recv(timeout=0.2))
                    if message["data"].get("id") in target:
                        live_events += 1
                except TimeoutError:
                    pass
                except Exception:
                    pass
    restarts_before = stack.worker_restarts
    took = wait_terminal(ids, [], timeout=size["wait"], stack=stack, supervise=True)
    caught_up = 0
    for client in clients:
        listed = client.api.get("/generations?limit=100").json()
        items = listed.get("items", listed) if isinstance(listed, dict) else listed
        caught_up += sum(1 for item in items if item["status"] not in ("queued", "dispatched", "running", "finishing"))
    for ws in sockets:
        try:
            ws.close()
        except Exception:
            pass
    check = check_invariants(stack, ids, [])
    server_errors = sum(n for s, n in page_statuses.items() if s >= 500 or s == 0)
    check.update(
        injected="Redis killed + restarted", amount=f"{size['outage']} s outage",
        page_statuses=page_statuses, submit_statuses_during_outage=submit_statuses,
        submit_statuses_after=after_statuses, websockets_broken=closed, websockets_reconnected=reconnected,
        websocket_reconnect_attempts_failed=reconnect_failures,
        live_events_after_restart=live_events, caught_up_from_api=caught_up, seconds=round(took, 1),
        workers_restarted_by_supervisor=stack.worker_restarts - restarts_before,
    )
    check["held"] = (check["held"] and server_errors == 0 and reconnected == len(clients) and live_events > 0
                     and caught_up == len(ids))
    check["note"] = (f"pages during outage {page_statuses}; {reconnected}/{len(clients)} websockets back, "
                     f"live events after: {live_events > 0}; workers restarted by the supervisor: "
                     f"{check['workers_restarted_by_supervisor']}")
    return check


def scenario_postgres(stack: Stack, size: dict) -> dict:
    """PostgreSQL restarted (fast shutdown: every connection cut) mid-run."""
    stack.workers_replace(pool="prefork", concurrency=3)
    clients = [Client(stack, i, "pg") for i in range(4)]
    ids, _ = submit_many(clients, size["generations"])
    time.sleep(2)
    stack.services.pg_stop("fast")
    time.sleep(size["outage"])
    stack.services.pg_start()
    back = time.monotonic()
    # After the restart: how many requests still fail, and for how long.
    errors_after, total_after, last_error = 0, 0, None
    while time.monotonic() - back < (8 if size["quick"] else 15):
        for client in clients:
            try:
                status = client.api.get("/generations?limit=5").status_code
            except httpx.HTTPError:
                status = 0
            total_after += 1
            if status >= 500 or status == 0:
                errors_after += 1
                last_error = round(time.monotonic() - back, 2)
        time.sleep(0.2)
    more, statuses = submit_many(clients, 10)
    ids += more
    took = wait_terminal(ids, [], timeout=size["wait"], stack=stack)
    check = check_invariants(stack, ids, [])
    check.update(
        injected="PostgreSQL restarted", amount=f"{size['outage']} s down",
        requests_after_restart=total_after, errors_after_restart=errors_after,
        last_error_after_restart_s=last_error, submit_statuses_after=statuses, seconds=round(took, 1),
    )
    # "No lasting error storm": nothing fails after the first second back.
    # No lasting error storm: requests fail at most briefly after the restart, and submits work again.
    check["held"] = check["held"] and (last_error is None or last_error <= 5.0) and statuses.get(201, 0) == 10
    check["note"] = f"{errors_after}/{total_after} requests failed after restart (last at {last_error} s)"
    return check


def scenario_providers(stack: Stack, size: dict) -> dict:
    """Hosted providers answering 30 % 5xx, 10 % hanging past the client timeout, and 429 bursts."""
    stack.workers_replace(pool="threads", concurrency=size["io_concurrency"])
    clients = [Client(stack, i, "prov") for i in range(4)]
    faults = {"error_rate": 0.3, "timeout_rate": size["timeout_rate"], "hang_seconds": 65, "job_seconds": 0.4}
    vendors = ("replicate", "fal", "comfyui")
    stack.knobs({vendor: faults for vendor in vendors})
    stop = threading.Event()
    bursts = [0]

    def burster():
        while not stop.wait(size["burst_every"]):
            bursts[0] += 1
            for vendor in vendors:
                httpx.post(f"{stack.simulator_url}/_sim/knobs",
                           json={vendor: {"rate_limit_rate": 1.0, "retry_after": 1}}, trust_env=False)
            time.sleep(3)
            for vendor in vendors:
                httpx.post(f"{stack.simulator_url}/_sim/knobs",
                           json={vendor: {"rate_limit_rate": 0.0}}, trust_env=False)

    thread = threading.Thread(target=burster, daemon=True)
    thread.start()
    ids, statuses = submit_many(clients, size["provider_generations"], model="flux-schnell", workers=4)
    took = wait_terminal(ids, [], timeout=size["wait"] + 300, stack=stack)
    stop.set()
    thread.join()
    state = httpx.get(f"{stack.simulator_url}/_sim/state", trust_env=False).json()
    stack.knobs({})
    check = check_invariants(stack, ids, [])
    stats = state.get("stats", {})
    injected = {kind: sum(n for k, n in stats.items() if k.endswith(f":{kind}")) for kind in ("500", "429")}
    check.update(
        injected="provider 5xx / timeouts / 429 bursts", submit_statuses=statuses,
        amount=f"{injected['500']} × 5xx, {injected['429']} × 429 ({bursts[0]} bursts), timeouts {size['timeout_rate']:.0%}",
        success_share=round(succeeded_share(check), 4), seconds=round(took, 1),
    )
    check["held"] = check["held"] and check["success_share"] >= 0.99
    check["note"] = f"{check['success_share']:.1%} succeeded; the rest failed and were released"
    return check


def scenario_webhooks(stack: Stack, size: dict) -> dict:
    """Every provider webhook delivered 10 times, shuffled, then all replayed again."""
    from django.db.models import Count

    from apps.realtime.models import Event

    stack.workers_replace(pool="threads", concurrency=size["io_concurrency"])
    clients = [Client(stack, i, "hooks") for i in range(4)]
    stack.knobs({vendor: {"job_seconds": 0.5} for vendor in ("replicate", "fal")})
    ids, statuses = submit_many(clients, size["webhook_generations"], model="flux-schnell", workers=4)
    took = wait_terminal(ids, [], timeout=size["wait"], stack=stack)
    time.sleep(3)  # let the shuffled copies land
    replayed = stack.proxy.replay_all()
    check = check_invariants(stack, ids, [])
    terminal_events = dict(
        Event.objects.filter(type__in=["generation.succeeded", "generation.failed", "generation.canceled",
                                       "generation.rejected"], data__id__in=ids)
        .values_list("data__id").annotate(n=Count("pk"))
    )
    more_than_one = sum(1 for n in terminal_events.values() if n > 1)
    none = len(ids) - len(terminal_events)
    check.update(
        injected="webhook storm", amount=f"{len(stack.proxy.received)} deliveries × {stack.proxy.copies} + replay of {replayed}",
        webhook_statuses=dict(stack.proxy.statuses), submit_statuses=statuses,
        jobs_with_two_terminal_events=more_than_one, jobs_without_terminal_event=none, seconds=round(took, 1),
    )
    check["held"] = check["held"] and more_than_one == 0 and none == 0
    check["note"] = f"terminal transitions per job: exactly one for {len(ids) - more_than_one - none}/{len(ids)}"
    return check


def png_bytes(seed: int) -> bytes:
    from PIL import Image

    image = Image.effect_noise((256, 256), 40 + seed % 50).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def scenario_load(stack: Stack, size: dict) -> dict:
    """Simulated people mixing page views, API submits, websockets and uploads."""
    stack.workers_replace(pool="prefork", concurrency=3)
    users = [Client(stack, i, "load") for i in range(size["users"])]
    stop_at = time.monotonic() + size["load_seconds"]
    latencies: dict[str, list[float]] = {"page": [], "api_list": [], "api_submit": [], "upload": [], "ws_connect": []}
    statuses: dict[int, int] = {}
    submitted: list[str] = []
    lock = threading.Lock()
    photos = [png_bytes(i) for i in range(8)]
    ws_messages = [0]

    def record(kind: str, started: float, status: int) -> None:
        with lock:
            latencies[kind].append(time.monotonic() - started)
            statuses[status] = statuses.get(status, 0) + 1

    def person(client: Client, rng: random.Random):
        started = time.monotonic()
        try:
            ws = client.websocket()
            record("ws_connect", started, 101)
        except Exception:
            ws = None
            record("ws_connect", started, 0)
        while time.monotonic() < stop_at:
            roll = rng.random()
            started = time.monotonic()
            try:
                if roll < 0.45:
                    record("page", started, client.pages.get(rng.choice(["/", "/photos/", "/workflows/"])).status_code)
                elif roll < 0.75:
                    record("api_list", started, client.api.get("/generations?limit=20").status_code)
                elif roll < 0.90:
                    response = client.submit()
                    record("api_submit", started, response.status_code)
                    if response.status_code == 201:
                        with lock:
                            submitted.append(response.json()["id"])
                else:
                    response = client.api.post("/uploads", files={"file": ("p.png", rng.choice(photos), "image/png")},
                                               data={"kind": "photo"})
                    record("upload", started, response.status_code)
            except httpx.HTTPError:
                record("page", started, 0)
            if ws is not None:
                try:
                    while True:
                        ws.recv(timeout=0)
                        ws_messages[0] += 1
                except Exception:
                    pass
            time.sleep(rng.uniform(*size["think"]))
        if ws is not None:
            ws.close()

    with futures.ThreadPoolExecutor(max_workers=len(users)) as pool:
        list(pool.map(person, users, [random.Random(i) for i in range(len(users))]))
    took = wait_terminal(submitted, [], timeout=size["wait"], stack=stack)
    check = check_invariants(stack, submitted, [])
    server_errors = sum(n for s, n in statuses.items() if s >= 500 or s == 0)
    total = sum(len(v) for v in latencies.values())
    check.update(
        injected="load", amount=f"{size['users']} users × {size['load_seconds']} s, {total} requests",
        http_statuses=statuses, server_errors=server_errors, websocket_messages=ws_messages[0], drain_seconds=round(took, 1),
        latency_ms={kind: {f"p{q}": (round(percentile(v, q) * 1000, 1) if v else None) for q in (50, 95, 99)} | {"n": len(v)}
                    for kind, v in latencies.items()},
    )
    check["held"] = check["held"] and server_errors == 0
    pages = check["latency_ms"]["page"]
    submits = check["latency_ms"]["api_submit"]
    check["note"] = (f"{server_errors} 5xx of {total}; page p50/p95/p99 {pages['p50']}/{pages['p95']}/{pages['p99']} ms, "
                     f"submit {submits['p50']}/{submits['p95']}/{submits['p99']} ms")
    return check


# ---------------------------------------------------------------- hostile load

HOSTILE_CHUNK = b"x" * (64 * 1024)  # every large body streams this one chunk again and again


def _repeat(total: int, head: bytes = b"", tail: bytes = b""):
    """A body of `total` bytes made on the fly: head, the shared chunk repeated, tail."""
    yield head
    left = total - len(head) - len(tail)
    while left > 0:
        piece = HOSTILE_CHUNK if left >= len(HOSTILE_CHUNK) else HOSTILE_CHUNK[:left]
        left -= len(piece)
        yield piece
    yield tail


def hostile_request(client: httpx.Client, kind: str, rng: random.Random) -> int:
    """One hostile request of `kind`, anonymous; its status (0: the server closed the connection)."""
    path = rng.choice(["/healthz", "/api/v1/generations", "/", "/photos/"])
    if kind == "multipart_40mb":
        boundary = f"hostile{rng.randrange(10**9)}"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        total = 40 * 2**20
        return client.post(path, content=_repeat(total, head, tail), headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(total)}).status_code
    if kind == "multipart_no_boundary":
        body = b"--abc\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhello\r\n--abc--\r\n"
        return client.post(path, content=body, headers={"Content-Type": "multipart/form-data"}).status_code
    if kind == "multipart_wrong_boundary":
        body = b"--abc\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhello\r\n--abc--\r\n" * 50
        return client.post(path, content=body,
                           headers={"Content-Type": "multipart/form-data; boundary=not-the-one"}).status_code
    if kind == "json_deep":
        body = b"[" * 1000 + b"]" * 1000 if rng.random() < 0.5 else b'{"a":' * 1000 + b"1" + b"}" * 1000
        return client.post("/api/v1/generations", content=body,
                           headers={"Content-Type": "application/json"}).status_code
    if kind == "json_oversized":
        total = rng.choice([4, 16, 30]) * 2**20
        return client.post(rng.choice(["/api/v1/generations", "/healthz"]),
                           content=_repeat(total, b'{"prompt": "', b'"}'),
                           headers={"Content-Type": "application/json", "Content-Length": str(total)}).status_code
    if kind == "huge_headers":
        if rng.random() < 0.5:
            headers = {"X-Hostile": "h" * 64 * 1024}
        else:
            headers = {f"X-Hostile-{i}": "h" * 512 for i in range(400)}
        return client.get(path, headers=headers).status_code
    raise ValueError(kind)


HOSTILE_KINDS = ("multipart_40mb", "multipart_no_boundary", "multipart_wrong_boundary", "json_deep",
                 "json_oversized", "huge_headers")


def scenario_hostile(stack: Stack, size: dict) -> dict:
    """Anonymous clients sending large and malformed bodies while signed-in people generate: the web
    process's memory, its status codes, and how much slower generations get."""
    from apps.generations.models import ACTIVE

    active = {str(s) for s in ACTIVE}
    stack.workers_replace(pool="prefork", concurrency=3)
    users = [Client(stack, i, "hostile") for i in range(size["hostile_users"])]
    web_pid = stack.web[0].pid
    submitted: list[str] = []
    user_statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop_sampling = threading.Event()
    rss = {"baseline": rss_mb(web_pid), "peak": 0.0, "quiet_peak": 0.0, "samples": 0}
    phase = ["quiet"]

    def sampler():
        while not stop_sampling.wait(0.05):
            value = rss_mb(web_pid)
            if value is None:
                continue
            rss["samples"] += 1
            rss["peak"] = max(rss["peak"], value)
            if phase[0] == "quiet":
                rss["quiet_peak"] = max(rss["quiet_peak"], value)

    def count(bucket: dict, status: int) -> None:
        with lock:
            bucket[status] = bucket.get(status, 0) + 1

    def generate(client: Client, stop_at: float, latencies: list[float]) -> None:
        """Submit, wait for the end (polling the API), again, until stop_at."""
        while time.monotonic() < stop_at:
            started = time.monotonic()
            try:
                response = client.submit()
                count(user_statuses, response.status_code)
                if response.status_code != 201:
                    time.sleep(0.5)
                    continue
                generation_id = response.json()["id"]
                with lock:
                    submitted.append(generation_id)
                while time.monotonic() - started < size["wait"]:
                    time.sleep(0.25)
                    poll = client.api.get(f"/generations/{generation_id}")
                    count(user_statuses, poll.status_code)
                    if poll.status_code == 200 and poll.json()["status"] not in active:
                        latencies.append(time.monotonic() - started)
                        break
            except httpx.HTTPError:
                count(user_statuses, 0)

    def users_phase(seconds: float) -> list[float]:
        latencies: list[float] = []
        stop_at = time.monotonic() + seconds
        with futures.ThreadPoolExecutor(max_workers=len(users)) as pool:
            list(pool.map(generate, users, [stop_at] * len(users), [latencies] * len(users)))
        return latencies

    threading.Thread(target=sampler, daemon=True).start()
    # Quiet: the same people generating, nobody else.
    quiet = users_phase(size["hostile_quiet_seconds"])

    # Hostile: the anonymous clients, for hostile_seconds, while the people go on generating.
    phase[0] = "hostile"
    hostile_statuses: dict[str, dict[int, int]] = {kind: {} for kind in HOSTILE_KINDS}
    hostile_errors: dict[str, int] = {}
    stop_at = time.monotonic() + size["hostile_seconds"]

    def attacker(index: int) -> None:
        rng = random.Random(index)
        timeout = httpx.Timeout(30, connect=10)
        with httpx.Client(base_url=stack.base_url, timeout=timeout, trust_env=False) as client:
            while time.monotonic() < stop_at:
                kind = HOSTILE_KINDS[index % len(HOSTILE_KINDS)] if rng.random() < 0.5 else rng.choice(HOSTILE_KINDS)
                try:
                    count(hostile_statuses[kind], hostile_request(client, kind, rng))
                except httpx.HTTPError as error:
                    # The server may refuse and close before the whole body is sent; a timeout is a hang.
                    name = type(error).__name__
                    with lock:
                        hostile_errors[name] = hostile_errors.get(name, 0) + 1
                    count(hostile_statuses[kind], 0)

    hostile_started = time.monotonic()
    with futures.ThreadPoolExecutor(max_workers=size["hostile_clients"] + 1) as pool:
        attackers = [pool.submit(attacker, i) for i in range(size["hostile_clients"])]
        loaded = users_phase(size["hostile_seconds"])
        futures.wait(attackers)
    hostile_took = time.monotonic() - hostile_started
    stop_sampling.set()
    rss["hwm"] = rss_mb(web_pid, "VmHWM")
    rss["after"] = rss_mb(web_pid)
    stack.check_alive()

    took = wait_terminal(submitted, [], timeout=size["wait"], stack=stack)
    check = check_invariants(stack, submitted, [])
    quiet_p95, loaded_p95 = percentile(quiet, 95), percentile(loaded, 95)
    ratio = round(loaded_p95 / quiet_p95, 2) if quiet_p95 and loaded_p95 else None
    all_hostile: dict[int, int] = {}
    for statuses in hostile_statuses.values():
        for status, n in statuses.items():
            all_hostile[status] = all_hostile.get(status, 0) + n
    server_errors = (sum(n for s, n in all_hostile.items() if s >= 500)
                     + sum(n for s, n in user_statuses.items() if s >= 500 or s == 0))
    hostile_total = sum(all_hostile.values())
    check.update(
        injected="hostile bodies", seconds=round(took, 1), hostile_seconds=round(hostile_took, 1),
        amount=f"{size['hostile_clients']} anonymous × {size['hostile_seconds']} s, {hostile_total} requests; "
               f"{size['hostile_users']} users",
        web_rss_mb={k: (round(v, 1) if isinstance(v, float) else v) for k, v in rss.items()},
        hostile_statuses={kind: dict(sorted(s.items())) for kind, s in hostile_statuses.items()},
        hostile_transport_errors=hostile_errors, user_statuses=dict(sorted(user_statuses.items())),
        server_errors=server_errors,
        generation_seconds={
            "quiet": {"n": len(quiet), "p50": percentile(quiet, 50), "p95": quiet_p95},
            "hostile": {"n": len(loaded), "p50": percentile(loaded, 50), "p95": loaded_p95},
            "p95_ratio": ratio,
        },
    )
    rss_ok = rss["peak"] < size["hostile_rss_limit_mb"]
    slow_ok = ratio is not None and ratio <= 2.0
    check["held"] = check["held"] and rss_ok and server_errors == 0 and (slow_ok or size["quick"])
    check["note"] = (f"web RSS peak {rss['peak']:.0f} MB (limit {size['hostile_rss_limit_mb']}, before "
                     f"{rss['baseline']:.0f}); {server_errors} 5xx of {hostile_total} hostile + "
                     f"{sum(user_statuses.values())} user requests; generation p95 quiet {quiet_p95} s, "
                     f"hostile {loaded_p95} s, ×{ratio}")
    return check


RUNNERS = {
    "kill9": scenario_kill9, "redis": scenario_redis, "postgres": scenario_postgres,
    "providers": scenario_providers, "webhooks": scenario_webhooks, "load": scenario_load,
    "hostile": scenario_hostile,
}

FULL = {
    "generations": 300, "runs": 20, "kill_every": (5, 10), "kills": 24, "wait": 420, "outage": 8,
    "provider_generations": 120, "timeout_rate": 0.1, "io_concurrency": 24, "burst_every": 20,
    "webhook_generations": 40, "users": 50, "think": (0.5, 2.0), "load_seconds": 300, "quick": False,
    "hostile_clients": 50, "hostile_users": 10, "hostile_seconds": 60, "hostile_quiet_seconds": 30,
    "hostile_rss_limit_mb": 500,
}
QUICK = {
    "generations": 16, "runs": 1, "kill_every": (2, 4), "kills": 3, "wait": 150, "outage": 3,
    "provider_generations": 12, "timeout_rate": 0.0, "io_concurrency": 12, "burst_every": 5,
    "webhook_generations": 6, "users": 6, "think": (0.3, 1.0), "load_seconds": 8, "quick": True,
    "hostile_clients": 10, "hostile_users": 4, "hostile_seconds": 8, "hostile_quiet_seconds": 5,
    "hostile_rss_limit_mb": 500,
}


def table(results: dict) -> str:
    rows = [("scenario", "injected", "how much", "jobs", "outcome", "reconcile", "2× charge", "charged on fail",
             "2× output", "held", "notes")]
    for name, r in results.items():
        if "error" in r:
            rows.append((name, "-", "-", "-", "-", "-", "-", "-", "-", "NO", r["error"][:80]))
            continue
        outcome = ", ".join(f"{k} {v}" for k, v in sorted(r["statuses"].items()))
        if r.get("runs"):
            outcome += "; runs " + ", ".join(f"{k} {v}" for k, v in sorted(r["run_statuses"].items()))
        rows.append((
            name, r["injected"], r["amount"], str(r["generations"] + r["runs"]), outcome,
            str(r["reconcile_mismatches"]), str(r["double_charged"]), str(r["charged_on_failure"]),
            str(r["duplicate_output_rows"] + r["duplicate_output_hashes"] + r["stray_files"]),
            "yes" if r["held"] else "NO", r.get("note", ""),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short versions of every scenario")
    parser.add_argument("--only", default="", help=f"comma-separated scenarios: {', '.join(SCENARIOS)}")
    parser.add_argument("--load-seconds", type=int, default=None, help="length of the load scenario")
    parser.add_argument("--hostile-seconds", type=int, default=None, help="length of the hostile scenario's attack")
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("CHAOS_PORT_BASE", "8960")),
                        help="ports used are the five after this one (0: any free ports)")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, data)")
    parser.add_argument("--clone-from", default="", help="copy schema and data from this migrated PostgreSQL "
                        "database (pg_dump) instead of running the migrations (faster; the test suite uses it)")
    args = parser.parse_args(argv)
    size = dict(QUICK if args.quick else FULL)
    if args.load_seconds is not None:
        size["load_seconds"] = args.load_seconds
    if args.hostile_seconds is not None:
        size["hostile_seconds"] = args.hostile_seconds
    chosen = [s for s in (args.only.split(",") if args.only else SCENARIOS) if s]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    base = args.port_base
    names = ("postgres", "redis", "web", "simulator", "proxy")
    if base:
        ports = {name: base + 1 + i for i, name in enumerate(names)}
    else:  # 0: any free loopback ports
        ports = free_ports(names)

    workdir = Path(tempfile.mkdtemp(prefix="darkroom-chaos-"))
    services = PrivateServices(workdir, ports["postgres"], ports["redis"])
    stack = chaos_stack(workdir, ports, services)
    if args.quick:
        # Jobs whose message a Redis restart lost are re-sent sooner (30 s in production).
        stack.extra_env["GENERATIONS_REDRIVE_QUEUED_SECONDS"] = "10"
    results: dict = {}
    started = time.monotonic()
    try:
        log(f"private PostgreSQL :{ports['postgres']} and Redis :{ports['redis']} in {workdir}")
        services.start()
        if args.clone_from:
            services.clone(args.clone_from)
        else:
            stack.manage("migrate", "--no-input")
        django_setup(stack)
        from apps.catalog.services import catalog_load

        catalog_load()
        stack.proxy = WebhookProxy(ports["proxy"], stack.base_url, copies=10)
        stack.start()
        for name in chosen:
            log(f"scenario {name} …")
            scenario_started = time.monotonic()
            try:
                results[name] = RUNNERS[name](stack, size)
            except Exception as error:  # report the rest even when one scenario breaks
                import traceback

                traceback.print_exc()
                results[name] = {"error": f"{type(error).__name__}: {error}", "held": False}
            results[name]["wall_seconds"] = round(time.monotonic() - scenario_started, 1)
            log(f"scenario {name}: {'held' if results[name]['held'] else 'DID NOT HOLD'} "
                f"({results[name]['wall_seconds']} s)")
    finally:
        stack.stop()
        if stack.proxy is not None:
            stack.proxy.close()
        services.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    summary = {
        "mode": "quick" if args.quick else "full", "size": size, "started_at": datetime.now(UTC).isoformat(),
        "wall_seconds": round(time.monotonic() - started, 1), "cpu_count": os.cpu_count(), "scenarios": results,
        "held": all(r.get("held") for r in results.values()) and bool(results),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = args.json or RESULTS / f"chaos-{summary['mode']}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(summary, indent=2, default=str))
    print()
    print(table(results))
    print(f"\n{'every invariant held' if summary['held'] else 'SOME INVARIANTS DID NOT HOLD'} "
          f"— {summary['wall_seconds']} s; results in {path}")
    return 0 if summary["held"] else 1


if __name__ == "__main__":
    sys.exit(main())
