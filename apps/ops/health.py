"""Liveness and readiness.

`/healthz` says the process is up and answers requests; nothing else is checked. `/readyz` checks
what a request needs: the database (and that every migration is applied), Redis (cache, channel
layer), the Celery broker and the file storage. Each check is bounded by READYZ_TIMEOUT_SECONDS and
reports its time; a failed one names its reason without addresses or credentials, so a load
balancer's log says *what* is down.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import storages
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

PROBE_NAME = ".readyz-probe"
# Migrations don't un-apply themselves: once a process has seen them all applied it stops asking.
_migrations_seen_applied = {"done": False}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    ms: float
    detail: str = ""

    def as_json(self) -> dict:
        payload = {"ok": self.ok, "ms": round(self.ms, 1)}
        if self.detail:
            payload["detail" if self.ok else "error"] = self.detail
        return payload


def _reason(error: BaseException) -> str:
    """The exception's class and first line, cut short: enough to tell refused from timed out."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    # Connection strings may carry a password: never echo anything after a scheme.
    if "://" in text:
        text = text.split("://", 1)[0] + "://…"
    return f"{type(error).__name__}: {text[:160]}" if text else type(error).__name__


def _timed(name: str, probe) -> Check:
    started = time.perf_counter()
    try:
        detail = probe() or ""
    except Exception as error:  # a readiness check reports every failure, whatever it is
        return Check(name, False, (time.perf_counter() - started) * 1000, _reason(error))
    return Check(name, True, (time.perf_counter() - started) * 1000, detail)


def check_database() -> str:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        # A connection broken by a restart is not reused: the next request opens a fresh one.
        connection.close_if_unusable_or_obsolete()
        connection.close()
        raise
    return connection.vendor


def check_migrations() -> str:
    if _migrations_seen_applied["done"]:
        return "applied"
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
        raise RuntimeError(f"{len(pending)} not applied ({names})")
    _migrations_seen_applied["done"] = True
    return "applied"


def _redis_ping(url: str) -> None:
    import redis

    timeout = settings.READYZ_TIMEOUT_SECONDS
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def check_redis() -> str:
    if not settings.REDIS_URL:
        return "embedded (in-process)"
    _redis_ping(settings.REDIS_URL)
    return "pong"


def check_broker() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith("memory://"):
        return "embedded (in-process)"
    if url.startswith(("redis://", "rediss://", "unix://")):
        _redis_ping(url)
        return "pong"
    from config.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=settings.READYZ_TIMEOUT_SECONDS)
    return "connected"


def check_storage() -> str:
    storage = storages["default"]
    storage.exists(PROBE_NAME)
    return type(storage).__name__


CHECKS = {
    "database": check_database,
    "migrations": check_migrations,
    "redis": check_redis,
    "broker": check_broker,
    "storage": check_storage,
}


def readiness() -> tuple[bool, dict]:
    """Every check, in order; migrations are not asked about while the database is down."""
    results: dict[str, Check] = {}
    for name, probe in CHECKS.items():
        if name == "migrations" and not results["database"].ok:
            results[name] = Check(name, False, 0.0, "skipped: database unreachable")
            continue
        results[name] = _timed(name, probe)
    ready = all(check.ok for check in results.values())
    failing = [f"{name}: {check.detail}" for name, check in results.items() if not check.ok]
    return ready, {
        "status": "ok" if ready else "unavailable",
        "reason": "; ".join(failing),
        "checks": {name: check.as_json() for name, check in results.items()},
    }
