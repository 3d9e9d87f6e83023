"""The production-shape stack `make bench` measures: PostgreSQL, Redis, daphne web process(es) and
Celery worker process(es), each a separate OS process, started like the Procfile starts them.

    stack = Stack(python=..., root=..., database_url=..., redis_url=..., port_base=8940, ...)
    stack.start()      # fresh database, migrate, catalogue, web and worker processes up
    stack.base_urls    # one per web process, e.g. ["http://127.0.0.1:8940"]
    stack.pids         # {"web": [...], "worker": [...]} (worker children included)
    stack.django(code) # run Python with Django set up against the stack's database; returns its JSON
    stack.stop()

Also a command-line entry used by the stack itself (`python bench/stack.py fixtures …`), run with
the stack's environment, to create bench users, API keys and browser sessions.

The bench's Redis database is flushed when the stack starts: give it one nothing else uses.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "bench-only-secret-key-that-is-long-enough-for-django-0123456789abcdef"
# A catalogue entry for the bench only: the offline engine at 256² (the public catalogue starts at 512²).
BENCH_MODEL_SLUG = "bench-sketch-256"


# ---------------------------------------------------------------- databases


def database_url_for(base_url: str, name: str) -> str:
    """A fresh (dropped and re-created) database beside `base_url`'s, named `name` (prefixed with
    the base database's name unless it already starts with it)."""
    import psycopg

    parts = urlsplit(base_url)
    base_name = parts.path.lstrip("/") or "darkroom_bench"
    if not name.startswith(base_name):
        name = f"{base_name}_{name}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def redis_flush(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()


# ---------------------------------------------------------------- memory


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(p) for p in handle.read().split()]
    except OSError:
        pass
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_mb(pid: int, field: str = "VmRSS") -> float | None:
    """Resident memory of one process from /proc (VmRSS now, or VmHWM: its peak so far)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class RssSampler:
    """Samples VmRSS of every process of each role (and their children) a few times a second.
    `peaks()` gives the largest single process per role since the last `reset()`; `overall` keeps
    the largest over the whole run (the memory row)."""

    def __init__(self, roles: dict[str, list[int]], interval: float = 0.25):
        self.roles, self.interval = roles, interval
        self._peak: dict[str, float] = {}
        self.overall: dict[str, float] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="rss-sampler")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def pids(self, role: str) -> list[int]:
        result = []
        for pid in self.roles.get(role, []):
            result.append(pid)
            stack = _children(pid)
            while stack:
                child = stack.pop()
                result.append(child)
                stack += _children(child)
        return result

    def sample(self) -> None:
        with self._lock:
            for role in self.roles:
                values = [v for v in (rss_mb(pid) for pid in self.pids(role)) if v is not None]
                if values:
                    top = max(values)
                    self._peak[role] = max(self._peak.get(role, 0), top)
                    self.overall[role] = max(self.overall.get(role, 0), top)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def _cpu(self) -> dict[str, dict[int, float]]:
        return {role: {pid: cpu_seconds(pid) for pid in self.pids(role)} for role in self.roles}

    def reset(self) -> None:
        """Start a new measurement: peaks and CPU time count from here."""
        with self._lock:
            self._peak = {}
        self._cpu_base = self._cpu()

    def cpu_used(self) -> dict[str, float]:
        """CPU seconds each role used since reset() (a figure contention does not inflate much)."""
        base, now = getattr(self, "_cpu_base", {}), self._cpu()
        return {role: round(sum(v - base.get(role, {}).get(pid, 0.0) for pid, v in pids.items()), 2)
                for role, pids in now.items()}

    def peaks(self) -> dict[str, float]:
        self.sample()
        with self._lock:
            return {role: round(value, 1) for role, value in self._peak.items()}


# ---------------------------------------------------------------- the stack


class Stack:
    def __init__(self, *, python: str, root: Path, database_url: str, redis_url: str, port_base: int,
                 web_processes: int = 1, worker_processes: int = 1, worker_concurrency: int = 4,
                 log_dir: Path, extra_env: dict | None = None, log=print):
        self.python, self.root = python, root
        self.database_url, self.redis_url = database_url, redis_url
        self.port_base, self.web_processes = port_base, web_processes
        self.worker_processes, self.worker_concurrency = worker_processes, worker_concurrency
        self.log_dir, self.log = log_dir, log
        self.var_dir = Path(tempfile.mkdtemp(prefix="darkroom-bench-"))
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DARKROOM_VAR_DIR": str(self.var_dir),
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "CHANNELS_PREFIX": "bench",
            # The offline engine as a zero-cost provider: no sleeps, one drawing step.
            "OFFLINE_ENGINE_STEP_DELAY_MS": "0",
            "OFFLINE_ENGINE_STEPS": "1",
            "OFFLINE_ENGINE_FAILURE_RATE": "0",
            # Load tests are not abuse: per-user limits off, balances large.
            "RATE_LIMIT_GENERATIONS_PER_HOUR": "0",
            "RATE_LIMIT_CONCURRENT_JOBS": "0",
            "USER_DAILY_SPEND_CAP": "0",
            "GLOBAL_DAILY_BUDGET": "0",
            "SIGNUP_GRANT_CREDITS": "100000000",
            "DAILY_FREE_CREDITS": "0",
            "METRICS_TOKEN": "bench-metrics-token",
            **(extra_env or {}),
        }
        self.env.pop("TEST_LIVE_REDIS_DB", None)
        self.web: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.rss: RssSampler | None = None
        self.started = False

    # -- helpers

    @property
    def base_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{self.port_base + i}" for i in range(self.web_processes)]

    @property
    def base_url(self) -> str:
        return self.base_urls[0]

    @property
    def pids(self) -> dict[str, list[int]]:
        if self.rss is None:
            return {"web": [p.pid for p in self.web], "worker": [p.pid for p in self.workers]}
        return {role: self.rss.pids(role) for role in ("web", "worker")}

    def manage(self, *args: str, timeout: float = 600) -> str:
        done = subprocess.run([self.python, "manage.py", *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def django(self, code: str, timeout: float = 600):
        """Run `code` in a fresh Python with Django set up on the stack's database. The code sets
        `result`; its JSON comes back."""
        script = (
            "import json, django\ndjango.setup()\nresult = None\n" + code
            + "\nprint('\\n@@RESULT@@' + json.dumps(result, default=str))\n"
        )
        done = subprocess.run([self.python, "-c", script], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"bench helper code failed: {done.stderr[-3000:]}")
        return json.loads(done.stdout.rsplit("@@RESULT@@", 1)[1])

    def fixtures(self, *, users: int, prefix: str, sessions: bool = False, api_keys: bool = True) -> list[dict]:
        """Bench users with API keys and/or browser session cookies."""
        out = subprocess.run(
            [self.python, "bench/stack.py", "fixtures", "--users", str(users), "--prefix", prefix,
             *(["--sessions"] if sessions else []), *([] if api_keys else ["--no-api-keys"])],
            cwd=self.root, env=self.env, capture_output=True, text=True, timeout=900,
        )
        if out.returncode:
            raise RuntimeError(f"fixtures failed: {out.stderr[-2000:]}")
        return json.loads(out.stdout)

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        return subprocess.Popen(argv, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def _wait_http(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{url} did not answer within {timeout:.0f} s (see {self.log_dir})")

    def _wait_workers(self, timeout: float = 60) -> None:
        """Ready when every worker answers a ping through the broker."""
        code = (
            "from config.celery import app\n"
            f"want = {len(self.workers)}\n"
            "import time\n"
            "deadline = time.monotonic() + 60\n"
            "replies = []\n"
            "while time.monotonic() < deadline:\n"
            "    replies = app.control.ping(timeout=1.0) or []\n"
            "    if len(replies) >= want: break\n"
            "result = len(replies)\n"
        )
        got = self.django(code, timeout=timeout + 30)
        if got < len(self.workers):
            raise RuntimeError(f"only {got} of {len(self.workers)} workers answered (see {self.log_dir})")

    # -- lifecycle

    def start(self) -> "Stack":
        if self.started:
            return self
        self.log_dir.mkdir(parents=True, exist_ok=True)
        redis_flush(self.redis_url)
        self.log("stack: migrating a fresh database …")
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage("catalog_load")
        self.django(BENCH_MODEL_CODE)
        for index in range(self.web_processes):
            self.web.append(self._spawn(f"web-{index}", [
                self.python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port_base + index),
                "--proxy-headers", "config.asgi:application",
            ]))
        for index in range(self.worker_processes):
            self.workers.append(self._spawn(f"worker-{index}", [
                self.python, "-m", "celery", "-A", "config", "worker", "-Q", "default,io,media",
                "--concurrency", str(self.worker_concurrency), "--loglevel", "WARNING",
                "-n", f"bench{index}@%h",
            ]))
        self.started = True
        try:
            for url in self.base_urls:
                self._wait_http(url + "/healthz")
            self._wait_workers()
        except Exception:
            self.stop()
            raise
        self.rss = RssSampler({"web": [p.pid for p in self.web], "worker": [p.pid for p in self.workers]})
        self.rss.start()
        self.log(f"stack: {self.web_processes} web ({', '.join(self.base_urls)}), "
                 f"{self.worker_processes} worker × {self.worker_concurrency} ({self.log_dir})")
        return self

    def stop(self) -> None:
        if self.rss is not None:
            self.rss.stop()
        for process in self.web + self.workers:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for process in self.web + self.workers:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        self.web, self.workers = [], []
        shutil.rmtree(self.var_dir, ignore_errors=True)
        self.started = False


BENCH_MODEL_CODE = f"""
from apps.catalog.models import CatalogModel
source = CatalogModel.objects.get(slug="offline-sketch")
source.pk = None
source.slug = "{BENCH_MODEL_SLUG}"
source.label = "Bench Sketch 256"
source.tiers = [{{"key": "tiny", "label": "Tiny", "area": 65536, "price": 1}}]
if hasattr(source, "sort_order"):
    source.sort_order = 999
CatalogModel.objects.filter(slug=source.slug).delete()
source.save()
result = source.slug
"""


# ---------------------------------------------------------------- fixtures (run inside the stack's env)


def _fixtures(users: int, prefix: str, sessions: bool, api_keys: bool) -> list[dict]:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from apps.accounts.services import api_key_create, user_create

    if sessions and not api_keys:
        return _session_users(users, prefix)
    out = []
    for index in range(users):
        user = user_create(email=f"{prefix}-{index}@bench.invalid")
        item = {"user_id": user.pk}
        if api_keys:
            item["api_key"] = api_key_create(user=user, name="bench").secret
        if sessions:
            store = SessionStore()
            store[SESSION_KEY] = str(user.pk)
            store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
            store[HASH_SESSION_KEY] = user.get_session_auth_hash()
            store.create()
            item["session"] = store.session_key
        out.append(item)
    return out


def _session_users(users: int, prefix: str) -> list[dict]:
    """Many signed-in browsers at once (websocket clients need no credits): bulk inserts."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    User = get_user_model()
    created = []
    for index in range(users):
        user = User(email=f"{prefix}-{index}@bench.invalid")
        if any(field.name == "username" for field in User._meta.concrete_fields):
            user.username = f"{prefix}-{index}"
        user.set_unusable_password()
        created.append(user)
    created = User.objects.bulk_create(created, batch_size=500)
    store, expires = SessionStore(), timezone.now() + timezone.timedelta(days=1)
    rows, out = [], []
    for user in created:
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        data = {SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0],
                HASH_SESSION_KEY: user.get_session_auth_hash()}
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expires))
        out.append({"user_id": user.pk, "session": key})
    Session.objects.bulk_create(rows, batch_size=500)
    return out


if __name__ == "__main__":
    import argparse

    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["fixtures"])
    parser.add_argument("--users", type=int, default=1)
    parser.add_argument("--prefix", default="bench")
    parser.add_argument("--sessions", action="store_true")
    parser.add_argument("--no-api-keys", action="store_true")
    args = parser.parse_args()
    json.dump(_fixtures(args.users, args.prefix, args.sessions, not args.no_api_keys), sys.stdout)
