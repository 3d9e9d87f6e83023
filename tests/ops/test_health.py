import socket

import pytest
from django.test import Client

from apps.ops import health


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_says_the_process_is_up_without_touching_anything():
    response = Client().get("/healthz")  # no database access is allowed in this test
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_checks_every_dependency_and_says_ok():
    response = Client().get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["reason"] == ""
    assert list(body["checks"]) == ["database", "migrations", "redis", "broker", "storage"]
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["database"]["detail"] == "postgresql"
    assert body["checks"]["migrations"]["detail"] == "applied"
    assert body["checks"]["redis"]["detail"] == "pong"
    assert body["checks"]["storage"]["detail"] == "InMemoryStorage"


@pytest.mark.django_db
def test_readyz_fails_with_the_reason_when_redis_is_unreachable(settings):
    port = closed_port()
    settings.REDIS_URL = f"redis://:secret@127.0.0.1:{port}/0"
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    settings.READYZ_TIMEOUT_SECONDS = 0.5
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["error"].startswith("ConnectionError: ")
    assert body["reason"].startswith("redis: ConnectionError")
    assert "broker: ConnectionError" in body["reason"]
    assert "secret" not in response.content.decode()
    assert Client().head("/readyz").status_code == 503


@pytest.mark.django_db
def test_readyz_names_migrations_not_applied(monkeypatch):
    monkeypatch.setitem(health._migrations_seen_applied, "done", False)

    class Plan:
        def __init__(self, connection):
            self.loader = type("L", (), {"graph": type("G", (), {"leaf_nodes": lambda self: []})()})()

        def migration_plan(self, targets):
            migration = type("M", (), {"app_label": "ops", "name": "0002_later"})()
            return [(migration, False)]

    monkeypatch.setattr(health, "MigrationExecutor", Plan)
    ready, detail = health.readiness()
    assert ready is False
    assert detail["checks"]["migrations"] == {"ok": False, "ms": detail["checks"]["migrations"]["ms"],
                                              "error": "RuntimeError: 1 not applied (ops.0002_later)"}
    assert detail["reason"] == "migrations: RuntimeError: 1 not applied (ops.0002_later)"


def test_a_reason_never_echoes_a_connection_string():
    error = RuntimeError("could not connect to postgres://user:pw@db.internal:5432/x")
    assert health._reason(error) == "RuntimeError: could not connect to postgres://…"
