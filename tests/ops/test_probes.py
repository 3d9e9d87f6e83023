"""The continuous provider benchmark: one probe per route per window, within a daily budget."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.ops.models import ProbeResult
from apps.ops.selectors.probes import reliability
from apps.ops.services.probes import benchmark_round, benchmark_routes, probe_run, window_start
from apps.providers.models import CircuitBreaker
from tests.ops.factories import ProbeResultFactory

pytestmark = pytest.mark.usefixtures("catalog")
SKETCH = "offline:procedural-sketch-v1"


@pytest.fixture
def benchmark(settings):
    settings.PROVIDER_BENCHMARK_MINUTES = 10
    settings.PROVIDER_BENCHMARK_ROUTES = [SKETCH]
    settings.PROVIDER_BENCHMARK_DAILY_PROBES = 200
    return settings


def test_off_by_default_nothing_is_probed(settings):
    assert settings.PROVIDER_BENCHMARK_MINUTES == 0
    assert benchmark_round() == []
    assert ProbeResult.objects.count() == 0


def test_windows_are_aligned_to_the_day():
    assert window_start(datetime(2026, 12, 7, 13, 47, 12, tzinfo=UTC), 10) == datetime(2026, 12, 7, 13, 40, tzinfo=UTC)
    assert window_start(datetime(2026, 12, 7, 0, 4, tzinfo=UTC), 5) == datetime(2026, 12, 7, 0, 0, tzinfo=UTC)


def test_our_own_engine_is_probed_only_when_named(settings):
    settings.PROVIDER_BENCHMARK_ROUTES = []
    assert not any(key.startswith("offline:") for key in benchmark_routes())
    settings.PROVIDER_BENCHMARK_ROUTES = [SKETCH]
    assert list(benchmark_routes()) == [SKETCH]


def test_a_beat_fired_twice_in_one_window_probes_once(benchmark, django_capture_on_commit_callbacks):
    now = datetime.now(UTC).replace(minute=21)
    with django_capture_on_commit_callbacks(execute=True):
        first = benchmark_round(now=now)
    assert benchmark_round(now=now + timedelta(minutes=5)) == []  # same window
    probe = ProbeResult.objects.get()
    assert [probe.pk] == first
    assert (probe.route, probe.provider, probe.ok, probe.error_class) == (SKETCH, "offline", True, "")
    assert probe.window_start == now.replace(minute=20, second=0, microsecond=0)
    assert probe.latency_ms is not None
    assert len(benchmark_round(now=now + timedelta(minutes=10))) == 1  # the next window


def test_the_daily_budget_stops_the_probes(benchmark):
    benchmark.PROVIDER_BENCHMARK_DAILY_PROBES = 1
    ProbeResultFactory(window_start=datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0))
    assert benchmark_round() == []


def test_a_failed_probe_counts_against_the_routes_breakers_and_is_recorded_once(benchmark):
    benchmark.OFFLINE_ENGINE_FAILURE_RATE = 1.0
    probe = ProbeResult.objects.create(window_start=datetime.now(UTC), route=SKETCH, provider="offline")
    done = probe_run(probe_id=probe.pk)
    assert (done.ok, done.error_class) == (False, "engine_failure")
    breakers = dict(CircuitBreaker.objects.values_list("key", "consecutive_failures"))
    assert breakers == {"offline": 1, SKETCH: 1}
    probe_run(probe_id=probe.pk)  # a redelivered task
    assert dict(CircuitBreaker.objects.values_list("key", "consecutive_failures")) == breakers


def test_the_reliability_page_shows_success_and_latency_per_provider(admin_client):
    now = datetime.now(UTC)
    for ms in (100, 200, 300):
        ProbeResultFactory(window_start=now - timedelta(hours=2, minutes=ms), latency_ms=ms)
    ProbeResultFactory(window_start=now - timedelta(hours=3), ok=False, error_class="timeout", latency_ms=None)
    ProbeResultFactory(window_start=now - timedelta(days=3), latency_ms=5000)
    rows = reliability(now=now)
    assert [row["provider"] for row in rows] == ["replicate"]
    day, week = rows[0]["windows"]["24h"], rows[0]["windows"]["7d"]
    assert (day["probes"], day["ok"], day["success_rate"]) == (4, 3, 0.75)
    assert day["latency_ms"] == {0.5: 200.0, 0.95: pytest.approx(290.0), 0.99: pytest.approx(298.0)}
    assert (week["probes"], week["ok"]) == (5, 4)
    page = admin_client.get("/admin/ops/reliability/").content.decode()
    assert "<th scope=\"row\">replicate</th>" in page
    assert "75 %" in page and "80 %" in page
