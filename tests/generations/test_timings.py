"""Phase timings: every generation records when it reached each phase, and our overhead."""

import pytest

from apps.generations import live, services
from apps.generations.metrics import PHASES, phase_spans
from apps.generations.models import Generation, Status
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")


def run_to_the_end(user, django_capture_on_commit_callbacks, **fields) -> Generation:
    with django_capture_on_commit_callbacks(execute=True):
        generation = GenerationFactory(owner=user, **fields)
        services.generation_run(generation_id=generation.id)
    return Generation.objects.get(pk=generation.pk)


def test_a_finished_generation_records_every_phase_in_order_and_its_overhead(user, django_capture_on_commit_callbacks):
    generation = run_to_the_end(user, django_capture_on_commit_callbacks)

    assert generation.status == Status.SUCCEEDED
    timings = generation.timings
    assert set(timings) == {*PHASES, "overhead"}
    assert timings["queued"] == 0.0
    at = [timings[phase] for phase in PHASES]
    assert at == sorted(at), timings
    # Phases are measured against the stored timestamps of the same transitions.
    assert timings["dispatched"] == round((generation.dispatched_at - generation.created_at).total_seconds(), 4)
    assert timings["provider_start"] == round((generation.started_at - generation.created_at).total_seconds(), 4)
    assert timings["provider_end"] == round((generation.finishing_at - generation.created_at).total_seconds(), 4)
    assert timings["event_published"] >= round((generation.finished_at - generation.created_at).total_seconds(), 4)
    assert generation.predict_seconds is not None
    assert timings["overhead"] == round(timings["event_published"] - generation.predict_seconds, 4)
    assert set(phase_spans(timings)) == {"dispatch", "to_provider", "provider", "derivatives", "store", "publish"}


def test_a_failed_generation_is_timed_but_has_no_overhead(user, settings, django_capture_on_commit_callbacks):
    settings.OFFLINE_ENGINE_FAILURE_RATE = 1.0
    generation = run_to_the_end(user, django_capture_on_commit_callbacks)

    assert generation.status == Status.FAILED
    assert {"queued", "dispatched", "provider_start", "event_published"} <= set(generation.timings)
    assert "provider_end" not in generation.timings
    assert "overhead" not in generation.timings


def test_the_final_event_is_timed_once(user, django_capture_on_commit_callbacks):
    generation = run_to_the_end(user, django_capture_on_commit_callbacks)
    first = generation.timings["event_published"]

    live.generation_published(generation.pk)  # a repeat delivery

    assert Generation.objects.get(pk=generation.pk).timings["event_published"] == first


def test_phase_spans_skip_phases_that_were_not_reached():
    timings = {"queued": 0.0, "dispatched": 0.015, "provider_start": 0.02, "event_published": 0.5}
    assert phase_spans(timings) == {"dispatch": 0.015, "to_provider": 0.005}
    assert phase_spans({}) == {}


def test_the_admin_shows_the_phase_timings_and_the_overhead(admin_client, user, django_capture_on_commit_callbacks):
    generation = run_to_the_end(user, django_capture_on_commit_callbacks)
    timings = generation.timings

    page = admin_client.get(f"/admin/generations/generation/{generation.pk}/change/").content.decode()
    assert '<table class="phase-timings">' in page
    for phase in PHASES:
        assert f"<td>{phase.replace('_', ' ')}</td><td>{timings[phase] * 1000:.1f}</td>" in page
    assert f"<td>overhead (ours)</td><td>{timings['overhead'] * 1000:.1f}</td>" in page
    listing = admin_client.get("/admin/generations/generation/").content.decode()
    assert f'<td class="field-overhead_ms">{timings["overhead"] * 1000:.0f}</td>' in listing
