"""The OpenAI Images adapter against the simulator, over real HTTP."""

import io

import httpx
import pytest
from PIL import Image

from apps.credits.models import LedgerEntry
from apps.generations import services
from apps.generations.models import Generation, Status
from apps.providers.adapters.openai import OpenAIImagesAdapter
from apps.providers.exceptions import ProviderBlockedError, ProviderRejectedError, ProviderRetryableError
from apps.providers.fetch import fetch_output
from apps.providers.registry import adapter_get
from apps.providers.types import GenerationRequest, JobState
from tests.providers.conftest import run_blocking

GENERATIONS = "openai:POST /openai/v1/images/generations"


@pytest.fixture(autouse=True)
def simulator(simulator):
    simulator.knobs("openai", job_seconds=0.05)
    return simulator


def request(**overrides) -> GenerationRequest:
    fields = dict(
        job_id="job-1", provider_model="gpt-image-1", prompt="a lighthouse on a cliff at dusk",
        width=1024, height=1024, aspect_ratio="1:1", num_images=1, options={"stream": False},
    )
    fields.update(overrides)
    return GenerationRequest(**fields)


def run(req: GenerationRequest, *, canceled_after: int | None = None):
    return run_blocking(OpenAIImagesAdapter(), req, canceled_after=canceled_after)


def image(content: bytes) -> Image.Image:
    return Image.open(io.BytesIO(content))


def test_registered_blocking_and_configured_only_with_a_key(db, settings):  # no variable: a stored key is looked up
    assert isinstance(adapter_get("openai"), OpenAIImagesAdapter)
    assert OpenAIImagesAdapter.blocking is True
    assert OpenAIImagesAdapter.is_configured() is True
    settings.OPENAI_API_KEY = ""
    assert OpenAIImagesAdapter.is_configured() is False


def test_gpt_image_answers_base64_images(simulator):
    status, updates = run(request(num_images=2))
    assert status.state == JobState.SUCCEEDED
    assert status.progress == 1.0 and updates == []
    assert [(o.url, o.content_type) for o in status.outputs] == [(None, "image/png")] * 2
    assert [(image(o.content).format, image(o.content).size) for o in status.outputs] == [
        ("PNG", (1024, 1024))
    ] * 2
    assert simulator.stats()[GENERATIONS] == 1  # both images in one call


def test_url_variant_gives_downloadable_urls(simulator):
    simulator.knobs("openai", output_variant="url")
    status, _ = run(request(aspect_ratio="3:2", width=1248, height=832))
    (output,) = status.outputs
    assert output.content is None
    assert output.url.startswith(f"{simulator.url}/openai/files/")
    content, content_type = fetch_output(output.url)
    assert (content_type, image(content).size) == ("image/png", (1536, 1024))


def test_dall_e_answers_urls_by_default():
    status, _ = run(request(provider_model="dall-e-3", aspect_ratio="16:9", options={}))
    content, _ = fetch_output(status.outputs[0].url)
    assert image(content).size == (1792, 1024)


@pytest.mark.parametrize(
    "model, aspect_ratio, size",
    [
        ("gpt-image-1", "1:1", (1024, 1024)),
        ("gpt-image-1", "3:2", (1536, 1024)),
        ("gpt-image-1", "2:3", (1024, 1536)),
        ("gpt-image-1", "16:9", (1536, 1024)),
        ("gpt-image-1", "9:16", (1024, 1536)),
        ("gpt-image-1", "4:5", (1024, 1536)),
        ("gpt-image-1", "5:4", (1536, 1024)),
        ("dall-e-3", "1:1", (1024, 1024)),
        ("dall-e-3", "16:9", (1792, 1024)),
        ("dall-e-3", "9:16", (1024, 1792)),
        ("dall-e-2", "16:9", (1024, 1024)),
    ],
)
def test_sizes_are_mapped_to_what_each_model_accepts(model, aspect_ratio, size):
    options = {"stream": False} if model.startswith("gpt") else {}
    status, _ = run(request(provider_model=model, aspect_ratio=aspect_ratio, options=options))
    output = status.outputs[0]
    content = output.content if output.content is not None else fetch_output(output.url)[0]
    assert image(content).size == size


def test_the_simulator_refuses_a_size_the_model_does_not_take(simulator):
    response = httpx.post(
        f"{simulator.url}/openai/v1/images/generations", headers={"Authorization": "Bearer sk-simulated"},
        json={"model": "gpt-image-1", "prompt": "a cat", "size": "1792x1024"}, timeout=5,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", "size")
    assert error["code"] == "invalid_value"


def test_streaming_reports_partial_images_as_rising_progress_with_previews(simulator):
    simulator.knobs("openai", job_seconds=0.2)
    status, updates = run(request(num_images=2, options={}))  # GPT image models stream by default
    assert status.state == JobState.SUCCEEDED
    assert [round(u.progress, 4) for u in updates] == [0.1667, 0.3333, 0.6667, 0.8333]
    assert all(u.state == JobState.RUNNING for u in updates)
    for update in updates:
        preview = image(update.preview)
        assert preview.format == "JPEG" and preview.size == (256, 256)
    assert [image(o.content).size for o in status.outputs] == [(1024, 1024)] * 2
    assert simulator.stats()[GENERATIONS] == 2  # one stream per image


def test_cancel_mid_stream_stops_at_once(simulator):
    simulator.knobs("openai", job_seconds=0.3)
    status, updates = run(request(num_images=2, options={"stream": True}), canceled_after=1)
    assert status.state == JobState.CANCELED
    assert status.outputs == ()
    assert len(updates) == 1
    assert simulator.stats()[GENERATIONS] == 1  # the second image was never asked for


def test_output_moderation_mid_stream_is_a_block(simulator):
    simulator.knobs("openai", output_variant="moderated_stream")
    updates = []
    with pytest.raises(ProviderBlockedError):
        OpenAIImagesAdapter().run(request(options={}), on_progress=updates.append, is_canceled=lambda: False)
    assert len(updates) == 2  # the partial images came before the verdict
    assert simulator.stats()["openai:moderated_stream"] == 1


def png(size: tuple[int, int], color: tuple[int, int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, color).save(out, format="PNG")
    return out.getvalue()


def test_edit_sends_the_image_and_mask_as_multipart(simulator):
    source = png((64, 64), (255, 0, 0, 255))
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (32, 0, 64, 64))  # the right half is to be repainted
    mask_bytes = io.BytesIO()
    mask.save(mask_bytes, format="PNG")
    status = OpenAIImagesAdapter().edit(request(aspect_ratio="3:2"), source, mask_bytes.getvalue())
    assert status.state == JobState.SUCCEEDED
    edited = image(status.outputs[0].content).convert("RGB")
    assert edited.size == (1536, 1024)
    assert edited.crop((0, 0, 700, 1024)).getextrema() == ((255, 255), (0, 0), (0, 0))  # kept
    assert edited.crop((840, 0, 1536, 1024)).getextrema() != ((255, 255), (0, 0), (0, 0))  # repainted
    assert simulator.stats()["openai:POST /openai/v1/images/edits"] == 1


def test_edit_without_a_mask_and_with_a_mismatched_mask(simulator):
    source = png((64, 64), (0, 0, 255, 255))
    status = OpenAIImagesAdapter().edit(request(), source)
    assert image(status.outputs[0].content).size == (1024, 1024)
    with pytest.raises(ProviderRejectedError):
        OpenAIImagesAdapter().edit(request(), source, png((32, 32), (0, 0, 0, 0)))


def test_edit_refuses_bytes_that_are_no_image_before_calling(simulator):
    with pytest.raises(ProviderRejectedError):
        OpenAIImagesAdapter().edit(request(), b"not an image")
    assert "openai:POST /openai/v1/images/edits" not in simulator.stats()


@pytest.mark.parametrize("options", [{"stream": False}, {}])
def test_429_is_retryable_after_the_millisecond_hint(simulator, options):
    simulator.knobs("openai", rate_limit_rate=1.0, retry_after=0.25)
    with pytest.raises(ProviderRetryableError) as raised:
        run(request(options=options))
    assert raised.value.retry_after == 0.25  # retry-after-ms wins over the whole-second retry-after: 1


def test_a_spent_quota_is_not_retried(simulator):
    simulator.knobs("openai", error_rate=1.0, error_status=429)
    with pytest.raises(ProviderRejectedError) as raised:
        run(request())
    assert raised.value.extra["code"] == "insufficient_quota"


@pytest.mark.parametrize("status_code", [500, 503])
@pytest.mark.parametrize("options", [{"stream": False}, {}])
def test_5xx_is_retryable(simulator, status_code, options):
    simulator.knobs("openai", error_rate=1.0, error_status=status_code)
    with pytest.raises(ProviderRetryableError) as raised:
        run(request(options=options))
    assert raised.value.retry_after is None
    assert raised.value.extra["status"] == status_code


def test_a_hang_times_out_as_retryable(simulator, monkeypatch):
    monkeypatch.setattr(OpenAIImagesAdapter, "read_timeout", 0.3)
    simulator.knobs("openai", timeout_rate=1.0, hang_seconds=1.5)
    with pytest.raises(ProviderRetryableError) as raised:
        run(request(options={}))
    assert raised.value.extra == {"transport": "ReadTimeout"}


def test_other_4xx_is_rejected(simulator):
    with pytest.raises(ProviderRejectedError) as raised:
        run(request(provider_model="gpt-image-0"))
    assert raised.value.extra["status"] == 400


@pytest.mark.parametrize(
    "model, options, code",
    [
        ("gpt-image-1", {"stream": False}, "moderation_blocked"),
        ("gpt-image-1", {}, "moderation_blocked"),
        ("dall-e-3", {}, "content_policy_violation"),
    ],
)
def test_safety_rejections_are_blocks(simulator, model, options, code):
    with pytest.raises(ProviderBlockedError) as raised:
        run(request(provider_model=model, prompt="a forbidden door", options=options))
    assert raised.value.extra["code"] == code
    assert "openai" not in raised.value.message.lower()


# ---------------------------------------------------------------- through the generation service


def ledger(generation) -> list[tuple[str, int]]:
    entries = LedgerEntry.objects.filter(generation=generation).order_by("id")
    return list(entries.values_list("kind", "amount"))


@pytest.mark.usefixtures("catalog")
def test_a_generation_streams_stores_and_charges(simulator, user):
    generation = services.generation_create(
        user=user, model_slug="gpt-image-1", prompt="a lighthouse on a cliff", aspect_ratio="3:2",
        tier="large", num_images=2,
    )
    services.generation_run(generation_id=generation.id)
    generation = Generation.objects.get(pk=generation.id)
    assert (generation.status, generation.provider, generation.progress) == (Status.SUCCEEDED, "openai", 1.0)
    images = [(i.index, i.width, i.height) for i in generation.images.all()]
    assert images == [(0, 1536, 1024), (1, 1536, 1024)]
    assert ledger(generation) == [("reserve", -18), ("capture", 0)]
    assert simulator.stats()[GENERATIONS] == 2


@pytest.mark.usefixtures("catalog")
def test_a_blocked_generation_is_rejected_released_and_not_retried(simulator, user):
    generation = services.generation_create(user=user, model_slug="gpt-image-1", prompt="a forbidden door")
    services.generation_run(generation_id=generation.id)
    generation = Generation.objects.get(pk=generation.id)
    assert (generation.status, generation.error_code) == (Status.REJECTED, "content_blocked")
    assert generation.images.count() == 0
    assert ledger(generation) == [("reserve", -6), ("release", 6)]
    assert simulator.stats()[GENERATIONS] == 1
    assert simulator.stats()["openai:blocked"] == 1
