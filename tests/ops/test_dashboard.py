from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.credits.models import DailySpend
from apps.ops.models import JobSample
from apps.ops.selectors import dashboard, latency, stats
from apps.providers.models import CircuitBreaker, ProviderCall
from tests.accounts.factories import UserFactory
from tests.ops.factories import JobSampleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client():
    staff = UserFactory()
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    return client


def calls(provider: str, outcome: str, latencies, *, ago=timedelta(minutes=2)):
    for ms in latencies:
        call = ProviderCall.objects.create(provider=provider, model="m", operation="submit", outcome=outcome,
                                           latency_ms=ms)
        ProviderCall.objects.filter(pk=call.pk).update(created_at=timezone.now() - ago)


def test_percentiles_in_the_database_and_in_python_agree():
    for seconds in (1, 2, 3, 4, 10):
        JobSampleFactory(total_seconds=seconds, provider_seconds=seconds / 2)
    in_db = stats.grouped_percentiles(JobSample.objects.all(), group="provider",
                                      fields=["total_seconds", "provider_seconds"])
    assert in_db == {"replicate": {"total_seconds": {0.5: 3.0, 0.95: pytest.approx(8.8), 0.99: pytest.approx(9.76)},
                                   "provider_seconds": {0.5: 1.5, 0.95: pytest.approx(4.4), 0.99: pytest.approx(4.88)}}}
    values = [1, 2, 3, 4, 10]
    assert [stats.percentile(values, q) for q in stats.QUANTILES] == [3.0, pytest.approx(8.8), pytest.approx(9.76)]
    assert stats.percentile([], 0.5) is None


def test_the_latency_table_gives_each_provider_its_percentiles_successes_and_failure_classes():
    for seconds in (2, 4, 6):
        JobSampleFactory(total_seconds=seconds, dispatch_seconds=0.1)
    JobSampleFactory(status="failed", error_code="provider_timeout", total_seconds=60)
    JobSampleFactory(status="failed", error_code="provider_timeout", total_seconds=60)
    JobSampleFactory(status="failed", error_code="invalid_input", total_seconds=1)
    JobSampleFactory(provider="fal", model="flux-dev", total_seconds=1)
    JobSampleFactory(provider="fal", finished_at=timezone.now() - timedelta(hours=2))  # outside the hour
    rows = latency.latency_table(group="provider", since=latency.window_since("1h"))
    assert [row["key"] for row in rows] == ["replicate", "fal"]  # slowest P95 first
    replicate = rows[0]
    assert (replicate["jobs"], replicate["succeeded"], replicate["failed"]) == (6, 3, 3)
    assert replicate["success_rate"] == 0.5
    assert replicate["total"] == {0.5: 4.0, 0.95: pytest.approx(5.8), 0.99: pytest.approx(5.96)}
    assert replicate["phases"]["dispatch"][0.5] == pytest.approx(0.1)
    assert replicate["phases"]["provider"] == {0.5: None, 0.95: None, 0.99: None}
    assert replicate["failures"] == [("provider_timeout", 2), ("invalid_input", 1)]
    assert rows[1]["jobs"] == 1


def test_throughput_counts_ended_jobs_per_minute_and_the_success_rate():
    now = timezone.now().replace(second=50)  # the samples below: two in this clock minute, one in the first
    JobSampleFactory(finished_at=now - timedelta(seconds=30))
    JobSampleFactory(finished_at=now - timedelta(seconds=20), status="failed", error_code="x")
    JobSampleFactory(finished_at=now - timedelta(minutes=59, seconds=30))
    hour = latency.throughput(since=now - timedelta(hours=1), now=now)
    assert hour["per_bucket"][-1] == 2 and hour["per_bucket"][0] == 1 and sum(hour["per_bucket"]) == 3
    assert hour["failed_per_bucket"][-1] == 1
    assert (hour["ended"], hour["failed"]) == (3, 1)
    assert hour["success_rate"] == pytest.approx(2 / 3)
    assert hour["per_minute"] == pytest.approx(3 / 60)


def test_a_provider_with_an_open_breaker_or_many_errors_is_failing_and_a_slow_one_is_slow():
    calls("replicate", "ok", [1000] * 20, ago=timedelta(hours=3))
    calls("replicate", "ok", [5000] * 5)  # five times slower than its day
    calls("fal", "ok", [800] * 2)
    calls("fal", "retryable", [30000] * 3)
    calls("openai", "ok", [900] * 3)
    CircuitBreaker.objects.create(key="stability", state="open", opened_at=timezone.now(), consecutive_failures=5)
    rows = {row["provider"]: row for row in dashboard.providers_now()}
    assert rows["fal"]["verdict"] == "failing"
    assert rows["fal"]["error_rate"] == 0.6
    assert rows["fal"]["outcomes"] == {"retryable": 3}
    assert rows["stability"]["verdict"] == "failing"
    assert rows["replicate"]["verdict"] == "slow"
    assert rows["openai"]["verdict"] == "ok"
    assert [row["provider"] for row in dashboard.providers_now()] == ["fal", "stability", "replicate", "openai"]
    assert sum(rows["replicate"]["calls_per_hour"]) == 25


def test_queue_depths_count_every_priority_list_of_each_queue():
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    keys = ["io", "io\x06\x166", "media\x06\x169"]
    try:
        client.rpush(keys[0], "a")
        client.rpush(keys[1], "b", "c")
        client.rpush(keys[2], "d")
        depths = dashboard.queue_depths()
    finally:
        client.delete(*keys)
    assert depths == {"default": 0, "io": 3, "media": 1}


def test_money_today_lists_the_top_spenders():
    first, second = UserFactory(), UserFactory()
    today = timezone.now().date()
    DailySpend.objects.create(day=today, user=first, spent=40)
    DailySpend.objects.create(day=today, user=second, spent=90)
    DailySpend.objects.create(day=today - timedelta(days=1), user=first, spent=500)
    money = dashboard.money_today()
    assert money["credits_spent"] == 130
    assert money["top_spenders"] == [{"user_id": second.pk, "email": second.email, "credits": 90},
                                     {"user_id": first.pk, "email": first.email, "credits": 40}]


def test_money_today_weighs_credits_charged_against_provider_dollars(settings, staff_client, catalog):
    from decimal import Decimal

    from tests.generations.factories import GenerationFactory

    settings.CREDIT_VALUE_USD = 0.01
    def made(credits, usd, *, days_ago=0):
        generation = GenerationFactory()
        type(generation).objects.filter(pk=generation.pk).update(
            charged_credits=credits, provider_cost_usd=Decimal(usd), created_at=timezone.now() - timedelta(days=days_ago))

    made(30, "0.12")
    made(10, "0.50")
    made(999, "9", days_ago=2)
    dollars = dashboard.money_today()["dollars"]
    assert (dollars["credits"], dollars["revenue_usd"], dollars["provider_usd"], dollars["margin_usd"]) == (
        40, Decimal("0.40"), Decimal("0.62"), Decimal("-0.22"))
    page = staff_client.get("/admin/").content.decode()
    assert "<dt>provider dollars</dt><dd>$0.62</dd>" in page
    assert '<dd class="bad">$-0.22' in page


def test_the_admin_index_is_the_dashboard_for_staff(staff_client):
    JobSampleFactory(status="failed", error_code="provider_timeout", total_seconds=61)
    calls("fal", "retryable", [30000] * 3)
    response = staff_client.get("/admin/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Providers right now" in page
    assert '<span class="ops-badge failing">failing</span>' in page
    assert "<code>provider_timeout</code>" in page
    failed = JobSample.objects.get()
    assert f"/admin/generations/generation/{failed.generation_id}/change/" in page
    assert 'hx-trigger="every 15s"' in page
    assert "htmx-2.0.11.min.js" in page
    assert "Data tables" in page  # the model list, folded away


def test_the_dashboard_fragment_refreshes_for_staff_only(staff_client):
    response = staff_client.get("/admin/ops/dashboard/?window=7d")
    assert response.status_code == 200
    assert response.content.decode().startswith('<div id="ops-live"')
    assert "<strong>7d</strong>" in response.content.decode()
    assert "no-cache" in response["Cache-Control"]
    anonymous = Client().get("/admin/ops/dashboard/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    person = Client()
    person.force_login(UserFactory())
    assert person.get("/admin/").status_code == 302


def test_breaker_changes_are_kept_and_shown(staff_client, settings):
    from apps.providers import breaker

    settings.BREAKER_FAILURE_THRESHOLD = 2
    settings.BREAKER_COOLDOWN_SECONDS = 0
    breaker.breakers_record_success(("fal",))  # pristine: nothing to record
    breaker.breaker_record_failure("fal")  # one failure: still closed
    breaker.breakers_record_success(("fal",))  # a reset of a closed breaker is not a change
    for _ in range(2):
        breaker.breaker_record_failure("fal")  # opens
    assert breaker.breaker_allows("fal") is True  # cooldown over: half-open, this call is the probe
    breaker.breaker_record_failure("fal")  # the probe failed: open again
    assert breaker.breaker_allows("fal") is True
    breaker.breakers_record_success(("fal",))  # closed
    history = dashboard.breaker_history(since=timezone.now() - timedelta(hours=1))
    assert [(t.key, t.state) for t in reversed(history)] == [
        ("fal", "open"), ("fal", "half_open"), ("fal", "open"), ("fal", "half_open"), ("fal", "closed")]
    page = staff_client.get("/admin/").content.decode()
    assert '<span class="ops-change closed">' in page and "fal → half_open" in page
