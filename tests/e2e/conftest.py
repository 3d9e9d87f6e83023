"""Live fixtures: Darkroom's production shape as real processes on loopback.

A live stack (devtools.stack.Stack) is one daphne web process and one Celery worker, both with
`config.settings.base` and the environment production would give them, pointed at the
test database (so data committed by a `transactional_db` test is visible to them) and at a
Redis database reserved for live tests. Each stack gets its own Redis database, so two
stacks never take each other's tasks or live events. (Two pytest sessions running the live
tests at the same time would share those databases and the test database: don't.)

Nothing here mocks Darkroom: the tests talk HTTP and websockets to the processes and read
the results back from PostgreSQL and the media directory.
"""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest
from django.conf import settings

from devtools.stack import (  # noqa: F401  (re-exported for the live tests)
    HOST,
    PYTHON,
    ROOT,
    RUNNING,
    STARTUP_TIMEOUT,
    LiveProcess,
    Stack,
    clean_env,
    free_port,
    http_ok,
    open_socket,
    wait_for,
)

# Redis databases reserved for live tests: unit tests use REDIS_URL's (config/settings/test.py).
# TEST_LIVE_REDIS_DB moves both, so two checkouts can run live tests side by side.
LIVE_REDIS_DB = int(os.environ.get("TEST_LIVE_REDIS_DB", "10"))
FAILING_REDIS_DB = LIVE_REDIS_DB + 1
# TEST_LIVE_REDIS_PORT: a private Redis for live tests (e.g. one started with more databases).
LIVE_REDIS_PORT = int(os.environ.get("TEST_LIVE_REDIS_PORT", "6379"))
PASSWORD = "a-Strong-pass-123"
# What the live stacks' offline engine does: a dozen short steps, never failing unless told.
LIVE_ENV = {"OFFLINE_ENGINE_STEP_DELAY_MS": "60", "OFFLINE_ENGINE_STEPS": "12", "OFFLINE_ENGINE_FAILURE_RATE": "0"}


def http_client(base_url: str, **kwargs) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=10, trust_env=False, **kwargs)


def events_until(ws, *, generation_id: str, event: str, timeout: float = 30) -> list[dict]:
    """Every message for `generation_id` up to and including the first `event`."""
    received = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            seen = [(m["type"], m["data"].get("progress")) for m in received]
            pytest.fail(f"no {event} for {generation_id} within {timeout} s; got {seen}")
        try:
            raw = ws.recv(timeout=remaining)
        except TimeoutError:
            continue
        message = json.loads(raw)
        assert set(message) == {"type", "data", "html", "sent_at", "id"}, message.keys()
        if message["data"].get("id") != generation_id:
            continue
        received.append(message)
        if message["type"] == event:
            return received
        assert message["type"] == "generation.progress", (
            f"unexpected {message['type']} before {event}: {message['data']}"
        )


def live_stack_for(name: str, *, database_name: str, redis_db: int, workdir, **extra_env: str) -> Stack:
    """daphne + one threaded Celery worker on the test database and a Redis database of their own,
    with the test settings' SECRET_KEY (so sessions and API keys made in-process are valid there)."""
    return Stack(
        workdir=workdir, name=f"live-{name}", database_url=f"postgres://postgres@{HOST}:5432/{database_name}",
        redis_url=f"redis://{HOST}:{LIVE_REDIS_PORT}/{redis_db}", workers=1, worker_pool="threads",
        worker_concurrency=2, queues="default,io,media", worker_args=("--without-heartbeat",),
        secret_key=settings.SECRET_KEY, env={**LIVE_ENV, **extra_env},
    )


def start_stack(request, tmp_path_factory, name: str, redis_db: int, **extra_env: str) -> Stack:
    from django.db import connection

    stack = live_stack_for(name, database_name=connection.settings_dict["NAME"], redis_db=redis_db,
                           workdir=tmp_path_factory.mktemp(f"live-{name}"), **extra_env)
    request.addfinalizer(stack.stop)
    return stack.start()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the output of every live process still running to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and RUNNING:
        for process in RUNNING:
            report.sections.append((f"live process log: {process.name}", process.tail(200)))
