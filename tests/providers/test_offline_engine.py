import hashlib
import io

import pytest
from PIL import Image

from apps.providers.adapters.offline.adapter import OfflineEngineAdapter, OfflineEngineFailure
from apps.providers.registry import adapter_get, adapter_registry
from apps.providers.types import GenerationRequest, JobState
from tests.providers.conftest import run_blocking


def request(**overrides) -> GenerationRequest:
    fields = dict(
        job_id="job-1", provider_model="procedural-studio-v1", prompt="a red sun over the sea",
        width=320, height=192, num_images=1, seed="1234",
    )
    fields.update(overrides)
    return GenerationRequest(**fields)


def run(req: GenerationRequest, *, canceled_after: int | None = None):
    return run_blocking(OfflineEngineAdapter(), req, canceled_after=canceled_after)


def test_the_engine_registers_under_its_key():
    assert "offline" in adapter_registry
    assert isinstance(adapter_get("offline"), OfflineEngineAdapter)
    assert OfflineEngineAdapter.blocking is True


def test_same_request_gives_byte_identical_images():
    first, _ = run(request())
    second, _ = run(request())
    assert first.state == JobState.SUCCEEDED
    assert first.outputs[0].content == second.outputs[0].content


@pytest.mark.parametrize("change", [{"seed": "1235"}, {"prompt": "a blue moon"}, {"provider_model": "procedural-sketch-v1"}])
def test_a_different_seed_prompt_or_model_gives_a_different_image(change):
    base, _ = run(request())
    other, _ = run(request(**change))
    assert hashlib.sha256(base.outputs[0].content).digest() != hashlib.sha256(other.outputs[0].content).digest()


def test_size_and_count_are_honoured():
    status, _ = run(request(width=336, height=192, num_images=3))
    assert len(status.outputs) == 3
    for output in status.outputs:
        image = Image.open(io.BytesIO(output.content))
        assert (image.format, image.size) == ("PNG", (336, 192))
    assert len({output.content for output in status.outputs}) == 3


def test_progress_rises_step_by_step_with_previews(settings):
    settings.OFFLINE_ENGINE_STEPS = 5
    status, updates = run(request(num_images=2))
    progress = [u.progress for u in updates]
    # 10 steps in all; the last one is the result itself, not a progress update.
    assert progress == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    assert all(u.state == JobState.RUNNING for u in updates)
    preview = Image.open(io.BytesIO(updates[0].preview))
    assert preview.format == "JPEG" and max(preview.size) <= 256
    assert status.progress == 1.0 and status.predict_seconds >= 0


def test_cancel_stops_between_steps(settings):
    settings.OFFLINE_ENGINE_STEPS = 6
    status, updates = run(request(), canceled_after=2)
    assert status.state == JobState.CANCELED
    assert status.outputs == ()
    assert len(updates) == 2


def test_failure_rate_one_fails_midway_with_a_user_safe_message(settings):
    settings.OFFLINE_ENGINE_STEPS = 6
    settings.OFFLINE_ENGINE_FAILURE_RATE = 1.0
    updates = []
    with pytest.raises(OfflineEngineFailure) as raised:
        OfflineEngineAdapter().run(request(), on_progress=updates.append, is_canceled=lambda: False)
    assert len(updates) == 3
    assert raised.value.code == "engine_failure"
    assert "procedural" not in raised.value.message
