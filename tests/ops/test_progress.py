"""Progress from history: each model's P50/P95 time to result, learned from its recent successes,
drive the estimated progress and the ETA on the card."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.generations import cards
from apps.generations.models import Generation
from apps.ops.selectors.latency import model_time_to_result
from tests.generations.factories import GenerationFactory
from tests.ops.factories import JobSampleFactory

pytestmark = pytest.mark.usefixtures("catalog")


def successes(model: str, seconds):
    for value in seconds:
        JobSampleFactory(model=model, total_seconds=value)


def test_with_too_few_successes_the_catalogue_time_is_used(settings):
    settings.PROGRESS_LEARNING_MIN_SAMPLES = 10
    successes("flux-schnell", [5.0] * 9)
    expected = model_time_to_result(model_slug="flux-schnell", typical_seconds=3)
    assert (expected.p50, expected.p95, expected.samples, expected.learned) == (3.0, 6.0, 0, False)


def test_recent_successes_give_the_p50_and_p95_and_are_cached(settings):
    settings.PROGRESS_LEARNING_MIN_SAMPLES = 10
    successes("flux-schnell", [float(s) for s in range(1, 21)])  # 1 … 20 s
    JobSampleFactory(model="flux-schnell", status="failed", error_code="x", total_seconds=500)  # not a success
    JobSampleFactory(model="flux-schnell", total_seconds=900, finished_at=timezone.now() - timedelta(days=8))  # too old
    JobSampleFactory(model="flux-dev", total_seconds=300)  # another model
    expected = model_time_to_result(model_slug="flux-schnell", typical_seconds=3)
    assert (expected.p50, expected.p95, expected.samples, expected.learned) == (10.5, pytest.approx(19.05), 20, True)
    successes("flux-schnell", [100.0] * 20)
    assert model_time_to_result(model_slug="flux-schnell", typical_seconds=3) == expected  # cached


def test_only_the_newest_samples_count(settings):
    settings.PROGRESS_LEARNING_MIN_SAMPLES = 2
    settings.PROGRESS_LEARNING_SAMPLES = 3
    now = timezone.now()
    for minutes, seconds in ((50, 90.0), (40, 4.0), (30, 6.0), (20, 8.0)):
        JobSampleFactory(model="flux-schnell", total_seconds=seconds, finished_at=now - timedelta(minutes=minutes))
    assert model_time_to_result(model_slug="flux-schnell", typical_seconds=3).p50 == 6.0


def test_an_active_card_shows_the_time_left_from_the_learned_p50(user, settings):
    settings.PROGRESS_LEARNING_MIN_SAMPLES = 10
    successes("offline-sketch", [40.0] * 10)
    generation = GenerationFactory(owner=user)
    Generation.objects.filter(pk=generation.pk).update(created_at=timezone.now() - timedelta(seconds=10))
    generation.refresh_from_db()
    assert cards.eta_label(generation) == "about 30 s left"
    client = Client()
    client.force_login(user)
    page = client.get(f"/generations/{generation.pk}/card/").content.decode()
    shown = re.search(r'<span class="eta">about (\d+) s left</span>', page)
    assert shown and 25 <= int(shown[1]) <= 30  # the page was drawn a moment later


def test_past_the_p50_the_eta_counts_to_the_p95_then_says_nothing(user, settings):
    settings.PROGRESS_LEARNING_MIN_SAMPLES = 10
    successes("offline-sketch", [10.0] * 9 + [200.0])  # P50 10 s, P95 ≈ 114.5 s
    generation = GenerationFactory(owner=user)
    Generation.objects.filter(pk=generation.pk).update(created_at=timezone.now() - timedelta(seconds=54.5))
    generation.refresh_from_db()
    assert cards.eta_label(generation) == "about 60 s left"
    Generation.objects.filter(pk=generation.pk).update(created_at=timezone.now() - timedelta(seconds=200))
    generation.refresh_from_db()
    assert cards.eta_label(generation) == ""
