"""With an OTLP collector configured, one generation submitted over HTTP is one trace: the web
request, the Celery task in the worker, the provider's HTTP calls and the stored files share its
trace id, and every one of those spans names the generation."""

import pytest

from apps.accounts.services import api_key_create
from devtools.stack import HOST, Stack, wait_for
from tests.accounts.factories import UserFactory
from tests.e2e.conftest import LIVE_ENV, LIVE_REDIS_DB, LIVE_REDIS_PORT, http_client
from tests.ops.otlp_collector import Collector

pytestmark = pytest.mark.live
ACTIVE = ("queued", "dispatched", "running", "finishing")


@pytest.fixture(scope="module")
def collector():
    collector = Collector()
    yield collector
    collector.close()


@pytest.fixture(scope="module")
def traced_stack(tmp_path_factory, django_db_setup, collector):
    from django.conf import settings
    from django.db import connection

    stack = Stack(
        workdir=tmp_path_factory.mktemp("traced"), name="traced",
        database_url=f"postgres://postgres@{HOST}:5432/{connection.settings_dict['NAME']}",
        # A Redis database of its own, beside the live stacks' (see tests/e2e/conftest.py).
        redis_url=f"redis://{HOST}:{LIVE_REDIS_PORT}/{LIVE_REDIS_DB + 3}", workers=1, worker_pool="prefork",
        worker_concurrency=1, simulator=True, secret_key=settings.SECRET_KEY,
        env={**LIVE_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "200",
             "PROVIDER_POLL_INTERVAL": "0.3"},
    )
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.mark.timeout(180)
def test_one_generation_is_one_trace_across_web_worker_and_provider(traced_stack, collector, transactional_db):
    from apps.catalog.services import catalog_load

    catalog_load()
    user = UserFactory()
    secret = api_key_create(user=user, name="trace").secret
    traced_stack.knobs({"replicate": {"job_seconds": 0.3}})
    api = http_client(f"{traced_stack.base_url}/api/v1", headers={"Authorization": f"Bearer {secret}"})
    created = api.post("/generations", json={"model": "flux-schnell", "prompt": "a lighthouse at dusk"})
    assert created.status_code == 201, created.text
    generation_id = created.json()["id"]
    assert created.headers["X-Request-ID"]

    body = wait_for(lambda: (b := api.get(f"/generations/{generation_id}").json())["status"] not in ACTIVE and b,
                    timeout=60, what="the generation to end", processes=traced_stack.processes, interval=0.3)
    assert body["status"] == "succeeded", body

    def provider_spans_arrived():
        named = [s for s in collector.snapshot() if s["attributes"].get("darkroom.generation_id") == generation_id]
        # The worker exports in batches: wait for its provider calls and the three stored files.
        stored = [s for s in named if s["name"] == "storage.write"]
        return named if any(s["kind"] == 3 and s["scope"].endswith("httpx") for s in named) and len(stored) >= 3 \
            else None

    named = wait_for(provider_spans_arrived, timeout=20, what="the worker's spans at the collector")
    request = [s for s in collector.snapshot()  # the submit: a server span of the Django instrumentation
               if s["kind"] == 2 and s["attributes"].get("http.route") == "api/v1/generations"
               and s["scope"].endswith("django")]
    assert len(request) == 1, [(s["name"], s["scope"]) for s in collector.snapshot() if s["name"] != "SELECT"]
    trace_id = request[-1]["trace_id"]
    assert request[-1]["attributes"]["darkroom.generation_id"] == generation_id

    in_trace = [s for s in collector.snapshot() if s["trace_id"] == trace_id]
    scopes = {s["scope"].rsplit(".", 1)[-1] for s in in_trace}
    assert {"django", "celery", "httpx", "psycopg"} <= scopes, scopes
    run = [s for s in in_trace if s["scope"].endswith("celery") and s["kind"] == 5]  # the task, in the worker
    assert run and all(s["attributes"]["darkroom.generation_id"] == generation_id for s in run)
    calls = [s for s in in_trace if s["scope"].endswith("httpx")]
    assert calls and all(s["attributes"]["darkroom.generation_id"] == generation_id for s in calls)
    assert any("predictions" in s["attributes"].get("url.full", s["attributes"].get("http.url", "")) for s in calls)
    stored = [s for s in in_trace if s["name"] == "storage.write"]  # the outputs and their derivatives
    assert len(stored) >= 3 and all(s["attributes"]["darkroom.generation_id"] == generation_id for s in stored)
    # Everything done for this generation is in this one trace.
    assert {s["trace_id"] for s in named} == {trace_id}
