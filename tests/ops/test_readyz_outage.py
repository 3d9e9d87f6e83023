"""A fault check in the chaos suite's style: a web process on a private PostgreSQL and Redis (own
ports and data directories, the test database copied in), which the check stops and starts again.
`/readyz` must fail with the reason while one is down and recover, untouched, when it returns;
`/healthz` keeps answering throughout (the process is up)."""

import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from devtools.stack import HOST, PrivateServices, Stack, free_ports, private_services_available, wait_for

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db,  # so the test database exists to copy
    pytest.mark.skipif(not private_services_available(), reason="needs the PostgreSQL server binaries and redis-server"),
]


@pytest.fixture(scope="module")
def outage_stack(tmp_path_factory, django_db_setup, django_db_blocker):
    from django.db import connection

    with django_db_blocker.unblock():
        source = connection.settings_dict
    source_url = f"postgres://{source['USER']}@{source['HOST'] or HOST}:{source['PORT'] or 5432}/{source['NAME']}"
    # Outside pytest's private temporary folder: the PostgreSQL server runs as its own user.
    workdir = Path(tempfile.mkdtemp(prefix="darkroom-readyz-"))
    ports = free_ports(["pg", "redis", "web"])
    services = PrivateServices(workdir, ports["pg"], ports["redis"])
    services.start()
    stack = Stack(workdir=tmp_path_factory.mktemp("readyz"), name="readyz", database_url=services.database_url,
                  redis_url=services.redis_url, web_ports=[ports["web"]], workers=0,
                  env={"READYZ_TIMEOUT_SECONDS": "1"})
    try:
        services.clone(source_url)
        stack.start()
        yield stack, services
    finally:
        stack.stop()
        services.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def readyz(stack) -> tuple[int, dict]:
    response = httpx.get(f"{stack.base_url}/readyz", timeout=10)
    return response.status_code, response.json()


def wait_ready(stack, *, timeout: float = 20) -> dict:
    seen = {}

    def ready():
        status, body = readyz(stack)
        seen.update(body)
        return status == 200

    wait_for(ready, timeout=timeout, what="/readyz to answer 200")
    return seen


@pytest.mark.timeout(180)
def test_readyz_fails_with_the_reason_while_redis_or_postgresql_is_down_and_recovers(outage_stack):
    stack, services = outage_stack
    body = wait_ready(stack)
    assert body["status"] == "ok"
    assert body["checks"]["database"]["detail"] == "postgresql"

    services.redis_kill()
    status, body = readyz(stack)
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["broker"]["ok"] is False
    assert body["reason"].startswith("redis: ConnectionError")
    assert httpx.get(f"{stack.base_url}/healthz", timeout=5).json() == {"status": "ok"}

    services.redis_start()
    started = time.monotonic()
    assert wait_ready(stack)["status"] == "ok"
    redis_recovery = time.monotonic() - started

    services.pg_stop("fast")
    status, body = readyz(stack)
    assert status == 503
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["database"]["error"].startswith("OperationalError")
    assert body["checks"]["migrations"] == {"ok": False, "ms": 0.0, "error": "skipped: database unreachable"}
    assert body["checks"]["redis"]["ok"] is True
    assert body["reason"].startswith("database: OperationalError")
    assert httpx.get(f"{stack.base_url}/healthz", timeout=5).status_code == 200

    services.pg_start()
    started = time.monotonic()
    assert wait_ready(stack)["checks"]["database"]["ok"] is True
    print(f"readyz back {redis_recovery:.2f} s after Redis, {time.monotonic() - started:.2f} s after PostgreSQL")
