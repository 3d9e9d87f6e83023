"""credits_reconcile: no generation has more billable provider jobs than route attempts it made."""

from io import StringIO

import pytest
from django.core.management import call_command

from apps.credits.services import credits_reconcile
from apps.generations.models import Generation
from apps.providers.models import ProviderCall
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")


def record(generation, operation: str, outcome: str) -> None:
    ProviderCall.objects.create(provider="replicate", model="owner/model", operation=operation, outcome=outcome,
                                latency_ms=10, generation_id=generation.pk)


def attempts(generation, count: int) -> None:
    Generation.objects.filter(pk=generation.pk).update(route_attempts=count)


def test_refused_creates_polls_and_cancels_are_not_billable_jobs(user):
    generation = GenerationFactory(owner=user)
    attempts(generation, 2)
    record(generation, "submit", ProviderCall.Outcome.RETRYABLE)  # a 503: nothing was made
    record(generation, "submit", ProviderCall.Outcome.ANSWER_LOST)  # maybe made: counts
    record(generation, "submit", ProviderCall.Outcome.REJECTED)  # a 422: nothing was made
    record(generation, "run", ProviderCall.Outcome.OK)
    record(generation, "poll", ProviderCall.Outcome.OK)
    record(generation, "cancel", ProviderCall.Outcome.OK)

    assert credits_reconcile()["provider_job_mismatches"] == []


def test_a_blind_second_create_is_reported(user):
    generation = GenerationFactory(owner=user)
    attempts(generation, 1)
    record(generation, "submit", ProviderCall.Outcome.ANSWER_LOST)
    record(generation, "submit", ProviderCall.Outcome.OK)  # sent again on the same attempt

    assert credits_reconcile()["provider_job_mismatches"] == [
        {"generation_id": str(generation.pk), "billable_jobs": 2, "route_attempts": 1}
    ]
    out = StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("credits_reconcile", stdout=out)
    assert exit_.value.code == 1
    assert (f"PROVIDER JOBS MISMATCH generation {generation.pk}: 2 billable provider jobs for 1 route attempts"
            in out.getvalue())
