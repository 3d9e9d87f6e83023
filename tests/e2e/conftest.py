"""Live fixtures: Darkroom's production shape as real processes on loopback.

A `LiveStack` is one daphne web process and one Celery worker, both with
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
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
from django.conf import settings
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
HOST = "127.0.0.1"
# Redis databases reserved for live tests: unit tests use 9 (config/settings/test.py).
# TEST_LIVE_REDIS_DB moves both, so two checkouts can run live tests side by side.
LIVE_REDIS_DB = int(os.environ.get("TEST_LIVE_REDIS_DB", "10"))
FAILING_REDIS_DB = LIVE_REDIS_DB + 1
# TEST_LIVE_REDIS_PORT: a private Redis for live tests (e.g. one started with more databases).
LIVE_REDIS_PORT = int(os.environ.get("TEST_LIVE_REDIS_PORT", "6379"))
STARTUP_TIMEOUT = 45
STOP_TIMEOUT = 10
PASSWORD = "a-Strong-pass-123"

# Everything a stack's environment decides; cleared from what the test process inherited.
DARKROOM_ENV = (
    "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL",
    "MEDIA_ROOT", "STATIC_ROOT", "DARKROOM_VAR_DIR", "CSRF_TRUSTED_ORIGINS", "DEBUG", "SECURE_SSL",
    "AWS_STORAGE_BUCKET_NAME", "SENTRY_DSN", "EMAIL_HOST", "CHANNELS_PREFIX", "SIGNUP_GRANT_CREDITS",
    "OFFLINE_ENGINE_STEPS", "OFFLINE_ENGINE_STEP_DELAY_MS", "OFFLINE_ENGINE_FAILURE_RATE",
    "DJANGO_ALLOW_ASYNC_UNSAFE", "FILE_URL_TTL", "GENERATION_DEADLINE_SECONDS",
)

# Every process started here, so a failing test can show their output.
_RUNNING: list[LiveProcess] = []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def clean_env(**overrides: str) -> dict[str, str]:
    """The test process's environment without anything Darkroom reads, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if k not in DARKROOM_ENV}
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def http_client(base_url: str, **kwargs) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=10, trust_env=False, **kwargs)


def open_socket(url: str, *, cookie: str | None = None, origin: str | None = None):
    """A websocket to `url` carrying a session cookie and an Origin, as a browser would send them."""
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else None
    return connect(
        url, origin=origin, additional_headers=headers, open_timeout=10, close_timeout=2, proxy=None,
        max_size=8 * 2**20,
    )


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


@dataclass
class LiveProcess:
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None

    def start(self) -> LiveProcess:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches any children it made
        )
        log.close()
        _RUNNING.append(self)
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 150) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with code {self.proc.returncode}:\n{self.tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self in _RUNNING:
            _RUNNING.remove(self)


def wait_for(predicate, *, timeout: float, what: str, processes=(), interval: float = 0.1):
    """Poll `predicate` until it returns something truthy; fail clearly on timeout or a dead process."""
    deadline = time.monotonic() + timeout
    while True:
        for process in processes:
            process.check_alive()
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name} ---\n{p.tail()}" for p in processes)
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}\n{logs}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class LiveStack:
    """daphne + a Celery worker sharing one database, one Redis database and one media root."""

    name: str
    database_name: str
    redis_db: int
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    web: LiveProcess | None = None
    worker: LiveProcess | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws/live/"

    @property
    def media_root(self) -> Path:
        return self.workdir / "media"

    @property
    def redis_url(self) -> str:
        return f"redis://{HOST}:{LIVE_REDIS_PORT}/{self.redis_db}"

    @property
    def processes(self) -> list[LiveProcess]:
        return [p for p in (self.web, self.worker) if p is not None]

    def env(self) -> dict[str, str]:
        env = clean_env(
            DJANGO_SETTINGS_MODULE="config.settings.base",
            DATABASE_URL=f"postgres://postgres@{HOST}:5432/{self.database_name}",
            REDIS_URL=self.redis_url,
            # The test settings' key, so sessions and API keys made in-process are valid here.
            SECRET_KEY=settings.SECRET_KEY,
            ALLOWED_HOSTS=f"{HOST},localhost",
            SITE_URL=self.base_url,
            MEDIA_ROOT=str(self.media_root),
            DARKROOM_VAR_DIR=str(self.workdir / "var"),
            OFFLINE_ENGINE_STEP_DELAY_MS="60",
            OFFLINE_ENGINE_STEPS="12",
            OFFLINE_ENGINE_FAILURE_RATE="0",
            LOG_LEVEL="INFO",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> LiveStack:
        self.port = free_port()
        self.media_root.mkdir(parents=True, exist_ok=True)
        redis.Redis.from_url(self.redis_url).flushdb()
        env = self.env()
        self.web = LiveProcess(
            f"{self.name} web (daphne :{self.port})",
            [PYTHON, "-m", "daphne", "-b", HOST, "-p", str(self.port), "config.asgi:application"],
            env, self.workdir / "web.log",
        ).start()
        self.worker = LiveProcess(
            f"{self.name} worker (celery)",
            [PYTHON, "-m", "celery", "-A", "config", "worker", "-Q", "default,io", "-c", "2",
             "--pool", "threads", "--without-heartbeat", "--without-mingle", "--without-gossip",
             "--loglevel=INFO", "-n", f"live-{self.name}-{self.port}@%h"],
            env, self.workdir / "worker.log",
        ).start()
        try:
            wait_for(lambda: http_ok(f"{self.base_url}/healthz"), timeout=STARTUP_TIMEOUT,
                     what=f"{self.web.name} /healthz", processes=self.processes)
            wait_for(lambda: re.search(r"\bready\.", self.worker.log()), timeout=STARTUP_TIMEOUT,
                     what=f"{self.worker.name} to log 'ready.'", processes=self.processes)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def check_alive(self) -> None:
        for process in self.processes:
            process.check_alive()


def _start_stack(request, tmp_path_factory, name: str, redis_db: int, **extra_env: str) -> LiveStack:
    from django.db import connection

    stack = LiveStack(
        name=name, database_name=connection.settings_dict["NAME"], redis_db=redis_db,
        workdir=tmp_path_factory.mktemp(f"live-{name}"), extra_env=extra_env,
    )
    stack.start()
    request.addfinalizer(stack.stop)
    return stack


@pytest.fixture(scope="session")
def live_stack(request, tmp_path_factory, django_db_setup) -> LiveStack:
    """The production shape: daphne + Celery on PostgreSQL and Redis, the offline engine succeeding."""
    return _start_stack(request, tmp_path_factory, "ok", LIVE_REDIS_DB)


@pytest.fixture(scope="session")
def failing_stack(request, tmp_path_factory, django_db_setup) -> LiveStack:
    """The same shape, but the offline engine fails every job midway."""
    return _start_stack(
        request, tmp_path_factory, "failing", FAILING_REDIS_DB, OFFLINE_ENGINE_FAILURE_RATE="1"
    )


@pytest.fixture
def live(live_stack, transactional_db) -> LiveStack:
    """A running stack with the catalogue loaded and committed (tables are truncated after each test)."""
    from apps.catalog.services import catalog_load

    live_stack.check_alive()
    catalog_load()
    return live_stack


@pytest.fixture
def failing(failing_stack, transactional_db) -> LiveStack:
    from apps.catalog.services import catalog_load

    failing_stack.check_alive()
    catalog_load()
    return failing_stack


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the output of every live process still running to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _RUNNING:
        for process in _RUNNING:
            report.sections.append((f"live process log: {process.name}", process.tail(200)))
