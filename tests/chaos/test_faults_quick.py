"""The fault suite's short versions (`devtools/chaos/run.py --quick`), run as part of the test suite.

One run starts its own PostgreSQL and Redis (private ports and data directories, copied from the
test database instead of migrating), daphne, two Celery workers, beat and the provider
simulator, injects each fault while jobs run, and checks the invariants after each scenario.
Each test below reads one scenario's outcome; `make chaos` runs the full-size versions.
"""

import json
import subprocess
import sys

import pytest

from devtools.stack import ROOT, private_services_available

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db,  # so the test database exists for the run to copy
    pytest.mark.skipif(
        not private_services_available(),
        reason="needs the PostgreSQL server binaries and redis-server",
    ),
]

INVARIANTS = (
    "active_left", "past_deadline", "reconcile_mismatches", "double_charged", "charged_on_failure", "unsettled",
    "duplicate_output_rows", "duplicate_output_hashes", "wrong_output_count", "stray_files",
)


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory, django_db_setup, django_db_blocker) -> dict:
    from django.db import connection

    with django_db_blocker.unblock():
        source = connection.settings_dict
    url = f"postgres://{source['USER']}@{source['HOST'] or '127.0.0.1'}:{source['PORT'] or 5432}/{source['NAME']}"
    out = tmp_path_factory.mktemp("chaos") / "quick.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "devtools" / "chaos" / "run.py"), "--quick", "--port-base", "0", "--clone-from", url,
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    if not out.exists():
        pytest.fail(f"devtools/chaos/run.py --quick wrote no results:\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}")
    results = json.loads(out.read_text())
    results["output"] = completed.stdout[-6000:]
    return results


def held(results: dict, name: str) -> dict:
    scenario = results["scenarios"][name]
    assert "error" not in scenario, f"{name} broke: {scenario['error']}\n{results['output']}"
    broken = {key: scenario[key] for key in INVARIANTS if scenario[key]}
    assert not broken, f"{name}: invariants broken {broken}\n{json.dumps(scenario, indent=1)}"
    assert scenario["held"], f"{name} did not hold:\n{json.dumps(scenario, indent=1)}\n{results['output']}"
    return scenario


@pytest.mark.timeout(900)
def test_workers_killed_mid_job_lose_nothing_and_charge_once(quick_run):
    scenario = held(quick_run, "kill9")
    assert scenario["statuses"] == {"succeeded": scenario["generations"]}
    assert scenario["never_resumed"] == 0


def test_a_redis_restart_keeps_pages_up_and_every_job_finishes(quick_run):
    scenario = held(quick_run, "redis")
    assert all(int(status) < 500 for status in scenario["page_statuses"]), scenario["page_statuses"]
    assert scenario["websockets_reconnected"] == 4
    assert scenario["live_events_after_restart"] > 0


def test_a_postgres_restart_leaves_no_error_storm(quick_run):
    scenario = held(quick_run, "postgres")
    assert scenario["submit_statuses_after"] == {"201": 10}


def test_provider_faults_end_in_success_or_a_clean_release(quick_run):
    scenario = held(quick_run, "providers")
    assert scenario["success_share"] >= 0.99


def test_a_webhook_storm_ends_each_job_exactly_once(quick_run):
    scenario = held(quick_run, "webhooks")
    assert scenario["jobs_with_two_terminal_events"] == 0
    assert scenario["jobs_without_terminal_event"] == 0


def test_mixed_load_has_no_server_errors_and_no_lost_jobs(quick_run):
    scenario = held(quick_run, "load")
    assert scenario["server_errors"] == 0


def test_hostile_bodies_leave_the_web_process_small_and_answer_no_5xx(quick_run):
    scenario = held(quick_run, "hostile")
    assert scenario["server_errors"] == 0
    assert scenario["web_rss_mb"]["peak"] < 500, scenario["web_rss_mb"]
    assert scenario["generation_seconds"]["hostile"]["n"] > 0  # the people's jobs went on under attack
