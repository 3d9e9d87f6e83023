"""The Stability AI v2beta adapter against the simulator, over real HTTP."""

import io

import httpx
import pytest
from PIL import Image

from apps.credits.models import LedgerEntry
from apps.generations import services
from apps.generations.models import Generation, Status
from apps.providers.adapters.stability import StabilityAdapter
from apps.providers.exceptions import ProviderBlockedError, ProviderRejectedError, ProviderRetryableError
from apps.providers.registry import adapter_get
from apps.providers.types import GenerationRequest, JobState
from tests.providers.conftest import run_blocking

CORE = "stability:POST /stability/v2beta/stable-image/generate/core"
JSON = {"accept": "application/json"}


@pytest.fixture(autouse=True)
def simulator(simulator):
    simulator.knobs("stability", job_seconds=0.02)
    return simulator


def request(**overrides) -> GenerationRequest:
    fields = dict(
        job_id="job-1", provider_model="core", prompt="a lighthouse on a cliff at dusk",
        negative_prompt="blurry", width=1024, height=1024, aspect_ratio="1:1", num_images=1, seed="1234",
    )
    fields.update(overrides)
    return GenerationRequest(**fields)


def run(req: GenerationRequest, *, canceled_after: int | None = None):
    return run_blocking(StabilityAdapter(), req, canceled_after=canceled_after)


def image(content: bytes) -> Image.Image:
    return Image.open(io.BytesIO(content))


def test_registered_blocking_and_configured_only_with_a_key(db, settings):  # no variable: a stored key is looked up
    assert isinstance(adapter_get("stability"), StabilityAdapter)
    assert StabilityAdapter.blocking is True
    assert StabilityAdapter.is_configured() is True
    settings.STABILITY_API_KEY = ""
    assert StabilityAdapter.is_configured() is False


@pytest.mark.parametrize("model", ["core", "ultra", "sd3"])
def test_raw_image_answer_with_seed_header(simulator, model):
    status, updates = run(request(provider_model=model))
    assert (status.state, status.progress, status.seed, updates) == (JobState.SUCCEEDED, 1.0, "1234", [])
    (output,) = status.outputs
    assert (output.url, output.content_type) == (None, "image/png")
    assert (image(output.content).format, image(output.content).size) == ("PNG", (1024, 1024))
    assert simulator.stats()[f"stability:POST /stability/v2beta/stable-image/generate/{model}"] == 1


def test_json_answer_gives_the_same_image():
    raw, _ = run(request())
    status, _ = run(request(options=JSON))
    assert (status.seed, status.outputs[0].content_type) == ("1234", "image/png")
    assert status.outputs[0].content == raw.outputs[0].content


@pytest.mark.parametrize(
    "aspect_ratio, size",
    [
        ("1:1", (1024, 1024)),
        ("16:9", (1344, 768)),
        ("9:16", (768, 1344)),
        ("21:9", (1536, 640)),
        ("3:2", (1216, 832)),
        ("4:3", (1088, 896)),  # → 5:4
        ("3:4", (896, 1088)),  # → 4:5
        ("2:1", (1344, 768)),  # → 16:9
        ("1:3", (640, 1536)),  # → 9:21
    ],
)
def test_aspect_ratios_map_to_the_nearest_one_offered(aspect_ratio, size):
    status, _ = run(request(aspect_ratio=aspect_ratio))
    assert image(status.outputs[0].content).size == size


def test_the_api_takes_only_multipart(simulator):
    url = f"{simulator.url}/stability/v2beta/stable-image/generate/core"
    headers = {"Authorization": "Bearer sk-simulated", "Accept": "image/*"}
    response = httpx.post(url, headers=headers, json={"prompt": "a cat"}, timeout=5)
    assert (response.status_code, response.json()["name"]) == (400, "bad_request")
    response = httpx.post(url, headers=headers, files=[("prompt", (None, "a cat"))], timeout=5)
    assert (response.status_code, response.headers["content-type"]) == (200, "image/png")


@pytest.mark.parametrize("options", [{}, JSON])
def test_one_call_per_image_with_seed_plus_index_and_progress_between(simulator, options):
    status, updates = run(request(num_images=3, seed="100", options=options))
    assert simulator.stats()[CORE] == 3
    assert [u.progress for u in updates] == pytest.approx([1 / 3, 2 / 3])
    assert all(u.state == JobState.RUNNING for u in updates)
    assert status.seed == "100"
    singles = [run(request(seed=seed))[0].outputs[0].content for seed in ("100", "101", "102")]
    assert [o.content for o in status.outputs] == singles


def test_a_seed_past_the_api_range_is_left_to_the_api():
    status, _ = run(request(seed="4294967295"))
    assert status.seed.isdigit() and status.seed != "4294967295"


def test_cancel_between_images_stops_calling(simulator):
    status, updates = run(request(num_images=3), canceled_after=1)
    assert (status.state, status.outputs, len(updates)) == (JobState.CANCELED, (), 1)
    assert simulator.stats()[CORE] == 1


@pytest.mark.parametrize("options", [{}, JSON])
def test_content_filtered_with_http_200_is_a_block(simulator, options):
    simulator.knobs("stability", output_variant="content_filtered")
    with pytest.raises(ProviderBlockedError) as raised:
        run(request(options=options))
    assert raised.value.extra == {"finish_reason": "CONTENT_FILTERED"}


def test_content_moderation_403_is_a_block(simulator):
    with pytest.raises(ProviderBlockedError) as raised:
        run(request(prompt="a forbidden door"))
    assert raised.value.extra == {"status": 403, "name": "content_moderation"}
    assert "stability" not in raised.value.message.lower()


def test_429_is_retryable_after_retry_after(simulator):
    simulator.knobs("stability", rate_limit_rate=1.0, retry_after=2)
    with pytest.raises(ProviderRetryableError) as raised:
        run(request())
    assert raised.value.retry_after == 2.0


@pytest.mark.parametrize("status_code", [500, 503])
def test_5xx_is_retryable(simulator, status_code):
    simulator.knobs("stability", error_rate=1.0, error_status=status_code)
    with pytest.raises(ProviderRetryableError) as raised:
        run(request())
    assert (raised.value.retry_after, raised.value.extra["status"]) == (None, status_code)


def test_a_hang_times_out_as_retryable(simulator, monkeypatch):
    monkeypatch.setattr(StabilityAdapter, "read_timeout", 0.3)
    simulator.knobs("stability", timeout_rate=1.0, hang_seconds=1.5)
    with pytest.raises(ProviderRetryableError) as raised:
        run(request())
    assert raised.value.extra == {"transport": "ReadTimeout"}


@pytest.mark.parametrize("status_code", [400, 413, 422])
def test_other_4xx_is_rejected(simulator, status_code):
    simulator.knobs("stability", error_rate=1.0, error_status=status_code)
    with pytest.raises(ProviderRejectedError) as raised:
        run(request())
    assert raised.value.extra["status"] == status_code


def test_an_unknown_endpoint_is_rejected_without_a_call(simulator):
    with pytest.raises(ProviderRejectedError):
        run(request(provider_model="sd4"))
    assert not any(name.startswith("stability:POST") for name in simulator.stats())


# ---------------------------------------------------------------- through the generation service


def ledger(generation) -> list[tuple[str, int]]:
    entries = LedgerEntry.objects.filter(generation=generation).order_by("id")
    return list(entries.values_list("kind", "amount"))


@pytest.mark.usefixtures("catalog")
def test_a_generation_stores_and_charges(simulator, user):
    generation = services.generation_create(
        user=user, model_slug="stable-image-core", prompt="a lighthouse on a cliff", negative_prompt="blurry",
        aspect_ratio="16:9", seed="7",
    )
    services.generation_run(generation_id=generation.id)
    generation = Generation.objects.get(pk=generation.id)
    assert generation.status == Status.SUCCEEDED
    assert (generation.provider, generation.progress) == ("stability", 1.0)
    assert [(i.index, i.width, i.height) for i in generation.images.all()] == [(0, 1344, 768)]
    assert ledger(generation) == [("reserve", -3), ("capture", 0)]
    assert simulator.stats()[CORE] == 1


@pytest.mark.usefixtures("catalog")
@pytest.mark.parametrize("variant, prompt", [("default", "a forbidden door"), ("content_filtered", "a cat")])
def test_a_blocked_generation_is_rejected_released_and_not_retried(simulator, user, variant, prompt):
    simulator.knobs("stability", output_variant=variant)
    generation = services.generation_create(user=user, model_slug="stable-image-core", prompt=prompt)
    services.generation_run(generation_id=generation.id)
    generation = Generation.objects.get(pk=generation.id)
    assert (generation.status, generation.error_code) == (Status.REJECTED, "content_blocked")
    assert generation.images.count() == 0
    assert ledger(generation) == [("reserve", -3), ("release", 3)]
    assert simulator.stats()[CORE] == 1
