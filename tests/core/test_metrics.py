"""GET /metrics: Prometheus text, for the METRICS_TOKEN bearer or staff only."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.generations.models import Generation, Status
from tests.accounts.factories import UserFactory
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = "scrape-me-0123456789"
    return settings.METRICS_TOKEN


def lines_of(response) -> set[str]:
    return set(response.content.decode().splitlines())


def test_without_credentials_nothing_is_shown(client, token):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"darkroom_" not in response.content
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_the_token_or_a_staff_session_opens_it(client, token):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"

    client.force_login(UserFactory())
    assert client.get("/metrics").status_code == 401  # signed in is not enough
    staff = UserFactory()
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200


def test_with_no_token_configured_a_bearer_gets_nothing(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_counts_by_status_and_phase_quantiles_of_the_window(client, token, user):
    phases = {"queued": 0.0, "dispatched": 0.01, "provider_start": 0.02, "provider_end": 1.02,
              "derivatives_done": 1.05, "outputs_stored": 1.06, "event_published": 1.07}
    done = [GenerationFactory(owner=user) for _ in range(3)]
    for generation, overhead in zip(done, (0.1, 0.3, 0.2), strict=True):
        Generation.objects.filter(pk=generation.pk).update(
            status=Status.SUCCEEDED, timings={**phases, "overhead": overhead}
        )
    failed = GenerationFactory(owner=user)
    Generation.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    GenerationFactory(owner=user)  # still queued
    old = GenerationFactory(owner=user)  # outside the window: counted as active, not as recent
    Generation.objects.filter(pk=old.pk).update(
        status=Status.RUNNING, created_at=timezone.now() - timedelta(hours=2),
        timings={**phases, "overhead": 9.0},
    )

    lines = lines_of(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}"))

    assert 'darkroom_generations_active{status="queued"} 1' in lines
    assert 'darkroom_generations_active{status="running"} 1' in lines
    assert 'darkroom_generations_active{status="finishing"} 0' in lines
    assert 'darkroom_generations_recent{status="succeeded",window="900s"} 3' in lines
    assert 'darkroom_generations_recent{status="failed",window="900s"} 1' in lines
    assert 'darkroom_generations_recent{status="running",window="900s"} 0' in lines
    assert "# TYPE darkroom_generation_overhead_seconds summary" in lines
    assert 'darkroom_generation_overhead_seconds{quantile="0.5"} 0.2' in lines
    assert 'darkroom_generation_overhead_seconds{quantile="0.99"} 0.3' in lines
    assert "darkroom_generation_overhead_seconds_count{} 3" in lines
    assert "darkroom_generation_overhead_seconds_sum{} 0.6" in lines
    assert 'darkroom_generation_phase_seconds{phase="provider",quantile="0.5"} 1' in lines
    assert 'darkroom_generation_phase_seconds{phase="dispatch",quantile="0.95"} 0.01' in lines
    assert 'darkroom_generation_phase_seconds_count{phase="publish"} 3' in lines
    assert 'darkroom_generation_total_seconds{quantile="0.5"} 1.07' in lines


def test_an_empty_window_still_answers(client, token):
    lines = lines_of(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}"))
    assert "darkroom_generation_overhead_seconds_count{} 0" in lines
    assert 'darkroom_generation_overhead_seconds{quantile="0.5"} nan' in lines
