"""Every ended generation leaves one job sample: the dashboard's and the progress curve's data."""

import pytest

from apps.generations import services
from apps.generations.models import Generation
from apps.ops.models import JobSample
from apps.ops.services.samples import job_sample_record
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")


def run_to_the_end(user, django_capture_on_commit_callbacks) -> Generation:
    with django_capture_on_commit_callbacks(execute=True):
        generation = GenerationFactory(owner=user)
        services.generation_run(generation_id=generation.id)
    return Generation.objects.get(pk=generation.pk)


def test_a_succeeded_generation_is_sampled_once_with_its_phases(user, django_capture_on_commit_callbacks):
    generation = run_to_the_end(user, django_capture_on_commit_callbacks)
    sample = JobSample.objects.get()
    assert sample.generation_id == generation.pk
    assert (sample.status, sample.model, sample.provider, sample.error_code) == (
        "succeeded", "offline-sketch", "offline", "")
    assert sample.finished_at == generation.finished_at
    assert sample.total_seconds == round((generation.finished_at - generation.created_at).total_seconds(), 4)
    timings = generation.timings
    assert sample.dispatch_seconds == round(timings["dispatched"] - timings["queued"], 4)
    assert sample.provider_seconds == round(timings["provider_end"] - timings["provider_start"], 4)
    job_sample_record(generation_id=generation.pk)  # a repeated end event
    assert JobSample.objects.count() == 1


def test_a_failed_generation_is_sampled_with_its_error_class(user, settings, django_capture_on_commit_callbacks):
    settings.OFFLINE_ENGINE_FAILURE_RATE = 1.0
    generation = run_to_the_end(user, django_capture_on_commit_callbacks)
    sample = JobSample.objects.get()
    assert (sample.status, sample.error_code) == ("failed", generation.error_code)
    assert generation.error_code != ""
    assert sample.provider_seconds is None


def test_an_active_generation_is_not_sampled(user):
    generation = GenerationFactory(owner=user)
    assert job_sample_record(generation_id=generation.pk) is None
    assert JobSample.objects.count() == 0


def test_the_backfill_samples_generations_that_ended_without_one(user, django_capture_on_commit_callbacks):
    from io import StringIO

    from django.core.management import call_command

    first = run_to_the_end(user, django_capture_on_commit_callbacks)
    second = run_to_the_end(user, django_capture_on_commit_callbacks)
    JobSample.objects.filter(generation_id=first.pk).delete()
    out = StringIO()
    call_command("ops_samples_backfill", "--days", "1", stdout=out)
    assert out.getvalue() == "1 job sample(s) added\n"
    assert set(JobSample.objects.values_list("generation_id", flat=True)) == {first.pk, second.pk}
    call_command("ops_samples_backfill", stdout=out)
    assert JobSample.objects.count() == 2
