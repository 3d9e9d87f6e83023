"""The one launcher of Darkroom's production shape on loopback, used by the live tests
(tests/e2e, tests/credits, tests/providers), `make bench` (devtools/bench) and `make chaos`
(devtools/chaos): PostgreSQL and Redis (checked, or private instances started here), daphne web
process(es), Celery worker(s), Celery beat and the provider simulator, each a separate OS process
started like the Procfile starts them, on free ports.

    stack = Stack(workdir=..., database_url=..., redis_url=..., web_processes=1, workers=1,
                  beat=False, simulator=False, env={...})
    stack.start()      # optionally migrate + load the catalogue first (migrate=True)
    stack.base_url     # http://127.0.0.1:<port> of the first web process (base_urls: all of them)
    stack.django(code) # Python with Django set up on the stack's database; returns its JSON `result`
    stack.stop()

Every process gets `clean_env()` (nothing Darkroom reads is inherited from the caller) plus the
stack's own variables: the stand-ins that point it at the simulator come from devtools.standins,
never from the settings.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from devtools import standins

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60
STOP_TIMEOUT = 10

# Everything a stack's environment decides, cleared from what the caller's process inherited
# (with every variable config/settings/ reads: see DARKROOM_PREFIXES).
DARKROOM_ENV = (
    "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL",
    "MEDIA_ROOT", "STATIC_ROOT", "DARKROOM_VAR_DIR", "CSRF_TRUSTED_ORIGINS", "DEBUG", "SECURE_SSL",
    "AWS_STORAGE_BUCKET_NAME", "SENTRY_DSN", "EMAIL_HOST", "CHANNELS_PREFIX", "CHANNELS_LAYER", "SIGNUP_GRANT_CREDITS",
    "DJANGO_ALLOW_ASYNC_UNSAFE", "FILE_URL_TTL", "GENERATION_DEADLINE_SECONDS", "LOG_LEVEL", "METRICS_TOKEN",
    "PROVIDER_SIMULATOR_URL", "STRIPE_FAKE_URL", "COMFYUI_URL", "TEST_LIVE_REDIS_DB",
    *standins.SIMULATOR_PATHS, *standins.SIMULATOR_CREDENTIALS, *standins.stripe_fake_settings(""),
)
DARKROOM_PREFIXES = (
    "OFFLINE_", "PROVIDER_", "RATE_LIMIT_", "DATABASE_POOL", "GENERATIONS_", "CELERY_", "WORKFLOW_", "MEDIA_",
    "VIDEO_", "DAILY_", "USER_DAILY", "GLOBAL_DAILY", "STRIPE_", "DJSTRIPE_", "REPLICATE_", "FAL_", "OPENAI_",
    "STABILITY_",
)
PROXY_ENV = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")

# Every process started here and still running, so a failing test can show their output.
RUNNING: list[LiveProcess] = []


# ---------------------------------------------------------------- small helpers


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def free_ports(names) -> dict[str, int]:
    """A distinct free loopback port per name."""
    ports: dict[str, int] = {}
    names = list(names)
    while len(set(ports.values())) < len(names):
        ports = {name: free_port() for name in names}
    return ports


def clean_env(**overrides: str) -> dict[str, str]:
    """The caller's environment without anything Darkroom reads (nor proxies), plus `overrides`."""
    env = {k: v for k, v in os.environ.items()
           if k not in DARKROOM_ENV and not k.startswith(DARKROOM_PREFIXES) and k not in PROXY_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def http_ok(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


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


def open_socket(url: str, *, cookie: str | None = None, origin: str | None = None):
    """A websocket to `url` carrying a session cookie and an Origin, as a browser would send them."""
    from websockets.sync.client import connect

    headers = {"Cookie": f"sessionid={cookie}"} if cookie else None
    return connect(
        url, origin=origin, additional_headers=headers, open_timeout=10, close_timeout=2, proxy=None,
        max_size=8 * 2**20,
    )


# ---------------------------------------------------------------- processes


@dataclass
class LiveProcess:
    """One child process in its own process group, its output in `log_path`."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None

    def start(self) -> LiveProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches any children it made
        )
        log_file.close()
        RUNNING.append(self)
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

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

    def kill(self) -> None:
        """kill -9 of the whole process group (a crash, not a shutdown)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        if self in RUNNING:
            RUNNING.remove(self)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self in RUNNING:
            RUNNING.remove(self)


def simulator_process(port: int, log_path: Path, *, host: str = HOST) -> LiveProcess:
    """The provider simulator (`python -m devtools.simulator`) on `port`, up and answering."""
    process = LiveProcess(f"simulator :{port}", [PYTHON, "-m", "devtools.simulator", "--host", host, "--port", str(port)],
                          clean_env(), log_path).start()
    try:
        wait_for(lambda: http_ok(f"http://{host}:{port}/_sim/health"), timeout=30, what="the provider simulator",
                 processes=[process])
    except BaseException:
        process.stop()
        raise
    return process


def stripe_fake_process(port: int, log_path: Path, *, webhook_url: str | None = None, env: dict | None = None,
                        host: str = HOST) -> LiveProcess:
    """The Stripe fake (`python -m devtools.stripe_fake`) on `port`, up and answering."""
    args = [PYTHON, "-m", "devtools.stripe_fake", "--host", host, "--port", str(port)]
    if webhook_url:
        args += ["--webhook-url", webhook_url]
    process = LiveProcess(f"stripe fake :{port}", args, env or clean_env(), log_path).start()
    try:
        wait_for(lambda: http_ok(f"http://{host}:{port}/_fake/healthz"), timeout=30, what="the Stripe fake",
                 processes=[process])
    except BaseException:
        process.stop()
        raise
    return process


# ---------------------------------------------------------------- PostgreSQL and Redis


def services_check(database_url: str, redis_url: str) -> None:
    """Fail clearly when the PostgreSQL server or the Redis server the stack needs is not up."""
    import psycopg
    import redis

    parts = urlsplit(database_url)
    try:
        psycopg.connect(urlunsplit(parts._replace(path="/postgres")), connect_timeout=5).close()
    except psycopg.Error as error:
        raise RuntimeError(f"PostgreSQL at {parts.hostname}:{parts.port or 5432} is not reachable "
                           f"(`make services` starts it): {error}") from None
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=5).ping()
    except redis.RedisError as error:
        raise RuntimeError(f"Redis at {redis_url} is not reachable (`make services` starts it): {error}") from None


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


def pg_bin() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are needed: apt-get install postgresql")


def private_services_available() -> bool:
    return bool(shutil.which("redis-server") and list(Path("/usr/lib/postgresql").glob("*/bin/initdb")))


def _as_postgres(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    # initdb refuses to run as root: run the server as the postgres user when we are root.
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + args, check=True, capture_output=True, text=True, **kwargs)


class PrivateServices:
    """A private PostgreSQL cluster and Redis server (own ports and data directories under
    `workdir`), which fault scenarios may kill and restart."""

    def __init__(self, workdir: Path, pg_port: int, redis_port: int, database: str = "darkroom"):
        self.workdir, self.pg_port, self.redis_port, self.database = workdir, pg_port, redis_port, database
        self.pgdata = workdir / "pgdata"
        self.bin = pg_bin()

    @property
    def database_url(self) -> str:
        return f"postgres://postgres@{HOST}:{self.pg_port}/{self.database}"

    @property
    def redis_url(self) -> str:
        return f"redis://{HOST}:{self.redis_port}/0"

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
        _as_postgres([str(self.bin / "initdb"), "-D", str(self.pgdata), "-A", "trust", "-U", "postgres", "-E", "UTF8"])
        self.pg_start()
        _as_postgres([str(self.bin / "createdb"), "-h", HOST, "-p", str(self.pg_port), "-U", "postgres", self.database])
        self.redis_start()

    def clone(self, source_url: str) -> None:
        """Schema and data from another PostgreSQL database (faster than migrating)."""
        dump = subprocess.run(["pg_dump", "--no-owner", "--no-privileges", source_url], check=True,
                              capture_output=True)
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", str(self.pg_port), "-U", "postgres",
                        self.database], input=dump.stdout, check=True, capture_output=True)

    def pg_start(self) -> None:
        options = f"-p {self.pg_port} -k {self.workdir} -c listen_addresses={HOST} -c max_connections=300 -c fsync=off"
        _as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.pgdata), "-o", options, "-l",
                      str(self.workdir / "postgres.log"), "-w", "start"])

    def pg_stop(self, mode: str = "fast") -> None:
        _as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.pgdata), "-m", mode, "-w", "stop"])

    def redis_start(self) -> None:
        subprocess.run(
            ["redis-server", "--port", str(self.redis_port), "--bind", HOST, "--save", "", "--appendonly", "no",
             "--daemonize", "yes", "--dir", str(self.workdir), "--pidfile", str(self.workdir / "redis.pid"),
             "--logfile", str(self.workdir / "redis.log")], check=True,
        )
        wait_for(self.redis_up, timeout=15, what="private Redis")

    def redis_up(self) -> bool:
        return subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"], capture_output=True).returncode == 0

    def redis_kill(self) -> None:
        pid = int((self.workdir / "redis.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not self.redis_up(), timeout=10, what="Redis to stop")

    def stop(self) -> None:
        if (self.workdir / "redis.pid").exists():
            try:
                os.kill(int((self.workdir / "redis.pid").read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
        if (self.pgdata / "postmaster.pid").exists():
            try:
                self.pg_stop("immediate")
            except subprocess.CalledProcessError:
                pass


# ---------------------------------------------------------------- memory and CPU of the stack's processes


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(p) for p in handle.read().split()]
    except OSError:
        pass
    return found


def pool_children(pid: int) -> list[int]:
    """Direct children of `pid` (a prefork worker's pool processes)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


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
    """daphne web process(es), Celery worker(s), optionally Celery beat and the provider simulator,
    sharing one database, one Redis database and one media root under `workdir`."""

    def __init__(
        self, *, workdir: Path, database_url: str, redis_url: str, name: str = "stack",
        web_processes: int = 1, web_ports: list[int] | None = None, proxy_headers: bool = False,
        workers: int = 1, worker_pool: str = "prefork", worker_concurrency: int = 2,
        queues: str = "default,io,media", worker_loglevel: str = "INFO", worker_args: tuple[str, ...] = (),
        beat: bool = False, simulator: bool | int = False, secret_key: str = "",
        env: dict[str, str] | None = None, sample_rss: bool = False,
    ):
        self.workdir, self.name = Path(workdir), name
        self.database_url, self.redis_url = database_url, redis_url
        self.web_processes, self.proxy_headers = web_processes, proxy_headers
        self.ports = list(web_ports or [])
        self.worker_processes, self.worker_pool, self.worker_concurrency = workers, worker_pool, worker_concurrency
        self.queues, self.worker_loglevel, self.worker_args = queues, worker_loglevel, tuple(worker_args)
        self.want_beat, self.sample_rss = beat, sample_rss
        # True: a simulator on a free port; an int: on that port.
        self.simulator_port = 0 if simulator is False else (free_port() if simulator is True else int(simulator))
        self.secret_key = secret_key or "stack-only-secret-key-that-is-long-enough-for-django-0123456789abcdef"
        self.extra_env: dict[str, str] = dict(env or {})
        self.web: list[LiveProcess] = []
        self.workers: list[LiveProcess] = []
        self.beat: LiveProcess | None = None
        self.simulator: LiveProcess | None = None
        self.worker_serial = 0
        self.worker_restarts = 0
        self.rss: RssSampler | None = None
        self.started = False

    # -- where things are

    @property
    def base_urls(self) -> list[str]:
        return [f"http://{HOST}:{port}" for port in self.ports]

    @property
    def base_url(self) -> str:
        return self.base_urls[0]

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws/live/"

    @property
    def media_root(self) -> Path:
        return self.workdir / "media"

    @property
    def simulator_url(self) -> str:
        return f"http://{HOST}:{self.simulator_port}" if self.simulator_port else ""

    @property
    def processes(self) -> list[LiveProcess]:
        return [p for p in (*self.web, *self.workers, self.beat, self.simulator) if p is not None]

    @property
    def pids(self) -> dict[str, list[int]]:
        if self.rss is None:
            return {"web": [p.pid for p in self.web], "worker": [p.pid for p in self.workers]}
        return {role: self.rss.pids(role) for role in ("web", "worker")}

    # -- environment

    def env(self) -> dict[str, str]:
        if not self.ports:
            self.ports = [free_port() for _ in range(self.web_processes)]
        env = clean_env(
            DJANGO_SETTINGS_MODULE="config.settings.base",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            SECRET_KEY=self.secret_key,
            ALLOWED_HOSTS=f"{HOST},localhost",
            SITE_URL=self.base_url,
            MEDIA_ROOT=str(self.media_root),
            DARKROOM_VAR_DIR=str(self.workdir / "var"),
            LOG_LEVEL="INFO",
            # Every browser journey signs up from the one loopback address: the product's per-IP
            # sign-up limit (tested on its own) would refuse the sixth.
            ACCOUNT_SIGNUP_RATE_LIMIT="1000/m/ip",
        )
        if self.simulator_port:
            env.update(standins.simulator_env(self.simulator_url))
        env.update(self.extra_env)
        return env

    def manage(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=self.env(), capture_output=True,
                              text=True, timeout=timeout)
        if check and done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        return done

    def django(self, code: str, timeout: float = 600):
        """Run `code` in a fresh Python with Django set up on the stack's database. The code sets
        `result`; its JSON comes back."""
        script = (
            "import json, django\ndjango.setup()\nresult = None\n" + code
            + "\nprint('\\n@@RESULT@@' + json.dumps(result, default=str))\n"
        )
        done = subprocess.run([PYTHON, "-c", script], cwd=ROOT, env=self.env(), capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"stack helper code failed: {done.stderr[-3000:]}")
        return json.loads(done.stdout.rsplit("@@RESULT@@", 1)[1])

    # -- processes

    def _process(self, name: str, args: list[str]) -> LiveProcess:
        return LiveProcess(f"{self.name} {name}", args, self.env(), self.workdir / f"{name}.log").start()

    def worker_start(self) -> LiveProcess:
        self.worker_serial += 1
        worker = self._process(
            f"worker{self.worker_serial}",
            [PYTHON, "-m", "celery", "-A", "config", "worker", "-Q", self.queues, "--pool", self.worker_pool,
             "-c", str(self.worker_concurrency), "--without-gossip", "--without-mingle",
             "--loglevel", self.worker_loglevel, *self.worker_args,
             "-n", f"{self.name}{self.worker_serial}-{self.port}@%h"],
        )
        self.workers.append(worker)
        return worker

    def workers_wait(self, workers: list[LiveProcess] | None = None, timeout: float = STARTUP_TIMEOUT) -> None:
        """Ready: each worker logged 'ready.' (at INFO), or else every worker answers a broker ping."""
        workers = self.workers if workers is None else workers
        if self.worker_loglevel.upper() in ("INFO", "DEBUG"):
            for worker in workers:
                wait_for(lambda w=worker: re.search(r"\bready\.", w.log()), timeout=timeout,
                         what=f"{worker.name} to log 'ready.'", processes=[worker])
            return
        code = (
            "from config.celery import app\nimport time\n"
            f"want = {len(self.workers)}\ndeadline = time.monotonic() + {timeout}\nreplies = []\n"
            "while time.monotonic() < deadline:\n"
            "    replies = app.control.ping(timeout=1.0) or []\n"
            "    if len(replies) >= want: break\n"
            "result = len(replies)\n"
        )
        got = self.django(code, timeout=timeout + 30)
        if got < len(self.workers):
            raise RuntimeError(f"only {got} of {len(self.workers)} workers answered (see {self.workdir})")

    def workers_supervise(self) -> None:
        """Restart a worker that exited on its own, as a process supervisor (systemd, the Procfile
        platform) does in production; counted in `worker_restarts`."""
        for worker in [w for w in self.workers if not w.alive()]:
            log(f"{worker.name} exited with code {worker.proc.returncode}; restarting it")
            self.workers.remove(worker)
            if worker in RUNNING:
                RUNNING.remove(worker)
            self.worker_restarts += 1
            self.worker_start()

    def workers_replace(self, *, pool: str, concurrency: int, count: int = 2) -> None:
        """Run `count` workers with this pool and concurrency (a no-op when they already do)."""
        if ((self.worker_pool, self.worker_concurrency) == (pool, concurrency) and len(self.workers) == count
                and all(w.alive() for w in self.workers)):
            return
        for worker in self.workers:
            worker.stop()
        self.workers = []
        self.worker_pool, self.worker_concurrency = pool, concurrency
        for _ in range(count):
            self.worker_start()
        self.workers_wait()

    def knobs(self, values: dict) -> None:
        """Reset the simulator, then set {vendor: {knob: value}}."""
        import httpx

        httpx.post(f"{self.simulator_url}/_sim/reset", trust_env=False).raise_for_status()
        if values:
            httpx.post(f"{self.simulator_url}/_sim/knobs", json=values, trust_env=False).raise_for_status()

    # -- lifecycle

    def start(self, *, migrate: bool = False, flush_redis: bool = True) -> Stack:
        """Start every process and wait until each answers; with `migrate`, migrate the database and
        load the catalogue first."""
        if self.started:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.media_root.mkdir(parents=True, exist_ok=True)
        if flush_redis:
            redis_flush(self.redis_url)
        if migrate:
            self.manage("migrate", "--no-input", "-v", "0")
            self.manage("catalog_load")
        self.started = True
        try:
            if self.simulator_port:
                self.simulator = simulator_process(self.simulator_port, self.workdir / "simulator.log")
            env = self.env()
            for index, port in enumerate(self.ports):
                self.web.append(LiveProcess(
                    f"{self.name} web-{index} (daphne :{port})",
                    [PYTHON, "-m", "daphne", "-b", HOST, "-p", str(port),
                     *(["--proxy-headers"] if self.proxy_headers else []), "config.asgi:application"],
                    env, self.workdir / f"web-{index}.log",
                ).start())
            if self.want_beat:
                self.beat = self._process("beat", [PYTHON, "-m", "celery", "-A", "config", "beat", "--loglevel",
                                                   "WARNING", "-s", str(self.workdir / "beat-schedule")])
            for _ in range(self.worker_processes):
                self.worker_start()
            for url in self.base_urls:
                wait_for(lambda u=url: http_ok(f"{u}/healthz"), timeout=STARTUP_TIMEOUT,
                         what=f"{url}/healthz", processes=self.processes)
            self.workers_wait()
        except BaseException:
            self.stop()
            raise
        if self.sample_rss:
            self.rss = RssSampler({"web": [p.pid for p in self.web], "worker": [p.pid for p in self.workers]})
            self.rss.start()
        return self

    def check_alive(self) -> None:
        for process in self.processes:
            process.check_alive()

    def stop(self) -> None:
        if self.rss is not None:
            self.rss.stop()
        processes = self.processes
        for process in processes:
            if process.alive():
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for process in processes:
            process.stop(timeout=max(0.1, deadline - time.monotonic()))
        self.web, self.workers, self.beat, self.simulator = [], [], None, None
        self.started = False
