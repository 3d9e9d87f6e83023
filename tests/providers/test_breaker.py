import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from apps.providers import breaker
from apps.providers.models import CircuitBreaker

ROOT = Path(__file__).resolve().parents[2]
KEY = "replicate:black-forest-labs/flux-schnell"


@pytest.fixture(autouse=True)
def breaker_settings(settings):
    settings.BREAKER_FAILURE_THRESHOLD = 3
    settings.BREAKER_COOLDOWN_SECONDS = 30
    settings.BREAKER_PROBE_TIMEOUT_SECONDS = 60


def age_open_breaker(seconds: int) -> None:
    CircuitBreaker.objects.filter(key=KEY).update(opened_at=timezone.now() - timedelta(seconds=seconds))


@pytest.mark.django_db
def test_it_opens_after_the_threshold_of_consecutive_failures():
    for _ in range(2):
        breaker.breaker_record_failure(KEY)
    assert (breaker.breaker_state(KEY), breaker.breaker_allows(KEY)) == ("closed", True)
    breaker.breaker_record_success(KEY)  # a success resets the count
    for _ in range(2):
        breaker.breaker_record_failure(KEY)
    assert breaker.breaker_state(KEY) == "closed"
    breaker.breaker_record_failure(KEY)
    assert (breaker.breaker_state(KEY), breaker.breaker_allows(KEY)) == ("open", False)


@pytest.mark.django_db
def test_after_the_cooldown_one_probe_goes_through_and_its_result_decides():
    for _ in range(3):
        breaker.breaker_record_failure(KEY)
    age_open_breaker(31)
    assert breaker.breaker_allows(KEY) is True  # the probe
    assert breaker.breaker_state(KEY) == "half_open"
    assert breaker.breaker_allows(KEY) is False  # nobody else while it is out
    breaker.breaker_record_failure(KEY)
    assert (breaker.breaker_state(KEY), breaker.breaker_allows(KEY)) == ("open", False)
    age_open_breaker(31)
    assert breaker.breaker_allows(KEY) is True
    breaker.breaker_record_success(KEY)
    row = CircuitBreaker.objects.get(key=KEY)
    assert (row.state, row.consecutive_failures, row.opened_at) == ("closed", 0, None)


@pytest.mark.django_db
def test_a_probe_that_never_reports_back_is_replaced():
    for _ in range(3):
        breaker.breaker_record_failure(KEY)
    age_open_breaker(31)
    assert breaker.breaker_allows(KEY) is True
    CircuitBreaker.objects.filter(key=KEY).update(probe_started_at=timezone.now() - timedelta(seconds=61))
    assert breaker.breaker_allows(KEY) is True
    assert breaker.breaker_allows(KEY) is False


@pytest.mark.django_db(transaction=True)
def test_only_one_of_many_concurrent_callers_gets_the_probe():
    for _ in range(3):
        breaker.breaker_record_failure(KEY)
    age_open_breaker(31)
    results, barrier = [], threading.Barrier(8)

    def call():
        barrier.wait()
        try:
            results.append(breaker.breaker_allows(KEY))
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False] * 7 + [True]


def other_process(code: str) -> str:
    """Run breaker code in a separate Python process against the same database, as a worker would."""
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "BREAKER_FAILURE_THRESHOLD": "3", "BREAKER_COOLDOWN_SECONDS": "30",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c",
         f"from apps.providers import breaker; {code}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_see_the_same_breaker():
    assert other_process(f"[breaker.breaker_record_failure({KEY!r}) for _ in range(3)]") == ""
    assert breaker.breaker_state(KEY) == "open"
    assert breaker.breaker_allows(KEY) is False
    age_open_breaker(31)
    assert other_process(f"print(breaker.breaker_allows({KEY!r}))") == "True"  # that process probes
    assert breaker.breaker_allows(KEY) is False  # so this one waits
    assert other_process(f"breaker.breaker_record_success({KEY!r}); print(breaker.breaker_state({KEY!r}))") == "closed"
    assert breaker.breaker_allows(KEY) is True
