"""The router across real adapters and the simulator: fallback, breakers, deadlines, blocks.

FLUX Schnell is routed here as Replicate first, then the ComfyUI GPU server."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.catalog.models import CatalogModel
from apps.credits.models import LedgerEntry
from apps.credits.selectors import credits_balance_get
from apps.generations import services, tasks
from apps.generations.models import Generation, Status
from apps.generations.services import state
from apps.providers.adapters.replicate import ReplicateAdapter
from apps.providers.models import CircuitBreaker
from tests.providers.conftest import poll_until_done

PRIMARY = "replicate"
REPLICATE_CREATE = "replicate:POST /replicate/v1/models/black-forest-labs/flux-schnell/predictions"
COMFY_PROMPT = "comfyui:POST /comfyui/prompt"


@pytest.fixture
def chain(simulator, catalog, settings, scheduled_polls, monkeypatch):
    settings.BREAKER_FAILURE_THRESHOLD = 2
    settings.BREAKER_COOLDOWN_SECONDS = 30
    monkeypatch.setattr(ReplicateAdapter, "read_timeout", 0.5)
    simulator.knobs("replicate", job_seconds=0.1, retry_after=0.1)
    simulator.knobs("comfyui", job_seconds=0.1)
    CatalogModel.objects.filter(slug="flux-schnell").update(routes=[
        {"provider": "replicate", "model": "black-forest-labs/flux-schnell", "max_images": 4, "size": "aspect_ratio"},
        {"provider": "comfyui", "model": "flux-schnell", "max_images": 1},
    ])
    return simulator


def generate(user) -> Generation:
    generation = services.generation_create(user=user, model_slug="flux-schnell", prompt="a lighthouse", seed=7)
    services.generation_run(generation_id=generation.id)
    poll_until_done(generation.id)
    generation.refresh_from_db()
    return generation


def calls(simulator, name) -> int:
    return simulator.stats().get(name, 0)


def breaker_states() -> dict:
    return dict(CircuitBreaker.objects.filter(key__startswith="replicate").values_list("key", "state"))


def test_a_failing_primary_falls_back_opens_its_breaker_and_closes_after_recovery(chain, user):
    chain.knobs("replicate", error_rate=1.0)

    first = generate(user)
    assert (first.status, first.provider, first.route_index) == (Status.SUCCEEDED, "comfyui", 1)
    assert first.notes == [state.SLOW_NOTE]
    assert calls(chain, REPLICATE_CREATE) == 2  # the adapter's one retry, then the next route
    assert set(breaker_states().values()) == {"closed"}

    generate(user)
    assert set(breaker_states().values()) == {"open"}
    before = calls(chain, REPLICATE_CREATE)
    third = generate(user)
    assert (third.status, third.provider) == (Status.SUCCEEDED, "comfyui")
    assert calls(chain, REPLICATE_CREATE) == before  # an open breaker is not even tried

    chain.knobs("replicate", error_rate=0.0)  # the primary recovers …
    CircuitBreaker.objects.update(opened_at=timezone.now() - timedelta(seconds=31))  # … and the cooldown passes
    fourth = generate(user)
    assert (fourth.status, fourth.provider, fourth.notes) == (Status.SUCCEEDED, "replicate", [])
    assert set(breaker_states().values()) == {"closed"}
    assert credits_balance_get(user=user) == 96  # four images, one credit each, charged once each


def test_429s_are_retried_after_the_wait_asked_for_then_fall_back(chain, user):
    chain.knobs("replicate", rate_limit_rate=1.0, retry_after=0.2)
    generation = generate(user)
    assert (generation.status, generation.provider) == (Status.SUCCEEDED, "comfyui")
    assert calls(chain, "replicate:429") == 2


def test_a_hanging_primary_times_out_and_falls_back(chain, user):
    chain.knobs("replicate", timeout_rate=1.0, hang_seconds=3)
    generation = generate(user)
    assert (generation.status, generation.provider) == (Status.SUCCEEDED, "comfyui")
    assert generation.notes == [state.SLOW_NOTE]


def test_with_every_route_down_the_job_fails_cleanly_and_costs_nothing(chain, user):
    chain.knobs("replicate", error_rate=1.0)
    chain.knobs("comfyui", error_rate=1.0)
    generation = generate(user)
    assert (generation.status, generation.error_code) == (Status.FAILED, "provider_unavailable")
    assert generation.error_message == state.ALL_ROUTES_DOWN_MESSAGE
    assert "replicate" not in generation.error_message.lower() and "comfy" not in generation.error_message.lower()
    assert credits_balance_get(user=user) == 100
    assert list(LedgerEntry.objects.filter(generation=generation).values_list("kind", "amount").order_by("id")) == [
        ("reserve", -1), ("release", 1),
    ]


def test_with_every_route_down_the_job_waits_out_the_cooldown_then_runs(
    chain, user, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.GENERATION_OUTAGE_WAITS = 1
    scheduled = []
    monkeypatch.setattr(tasks.generation_run_task, "apply_async", lambda **kw: scheduled.append(kw))
    chain.knobs("replicate", error_rate=1.0)
    chain.knobs("comfyui", error_rate=1.0)
    generation = services.generation_create(user=user, model_slug="flux-schnell", prompt="a lighthouse", seed=7)
    with django_capture_on_commit_callbacks(execute=True):
        services.generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.is_active and generation.outage_waits == 1 and generation.route_index == 0
    assert scheduled == [{"kwargs": {"generation_id": str(generation.id)}, "countdown": 30}]

    chain.knobs("replicate", error_rate=0.0)  # the outage ends before the job's next try
    CircuitBreaker.objects.update(opened_at=timezone.now() - timedelta(seconds=31))
    services.generation_run(generation_id=generation.id)
    poll_until_done(generation.id)
    generation.refresh_from_db()
    assert (generation.status, generation.provider) == (Status.SUCCEEDED, "replicate")
    assert credits_balance_get(user=user) == 99

    # A second outage finds the job's waits used up: it fails at once and is released.
    chain.knobs("replicate", error_rate=1.0)
    again = services.generation_create(user=user, model_slug="flux-schnell", prompt="a lighthouse", seed=8)
    Generation.objects.filter(pk=again.pk).update(outage_waits=1)
    services.generation_run(generation_id=again.id)
    again.refresh_from_db()
    assert (again.status, again.error_code) == (Status.FAILED, "provider_unavailable")
    assert credits_balance_get(user=user) == 99


def test_a_blocked_prompt_is_neither_retried_nor_rerouted_nor_charged(chain, user):
    generation = services.generation_create(user=user, model_slug="flux-schnell", prompt="something forbidden")
    services.generation_run(generation_id=generation.id)
    poll_until_done(generation.id)
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.REJECTED, "content_blocked")
    assert calls(chain, REPLICATE_CREATE) == 1
    assert calls(chain, COMFY_PROMPT) == 0
    assert credits_balance_get(user=user) == 100


def test_a_bad_key_at_the_primary_moves_on_without_retrying(chain, user, settings):
    settings.REPLICATE_API_TOKEN = "r8_wrong"
    generation = generate(user)
    assert (generation.status, generation.provider) == (Status.SUCCEEDED, "comfyui")
    assert calls(chain, REPLICATE_CREATE) == 1


def test_a_key_revoked_while_a_job_runs_fails_it_at_the_next_poll(chain, user, settings):
    generation = services.generation_create(user=user, model_slug="flux-schnell", prompt="a lighthouse")
    services.generation_run(generation_id=generation.id)
    settings.REPLICATE_API_TOKEN = "r8_revoked"
    assert services.generation_poll(generation_id=generation.id) is False
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.FAILED, "provider_unavailable")
    assert credits_balance_get(user=user) == 100
