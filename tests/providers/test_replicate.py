"""The Replicate adapter against the simulated Replicate API, over real HTTP, and end to end
through the generation services and the webhook endpoint."""

import base64
import hashlib
import hmac
import io
import json
import time

import httpx
import pytest
from django.conf import settings as django_settings
from django.test import Client, TestCase
from PIL import Image

from apps.catalog.models import CatalogModel
from apps.credits.models import LedgerEntry
from apps.generations import services
from apps.generations.models import Generation, Status
from apps.providers.adapters.replicate import ReplicateAdapter, payloads, webhooks
from apps.providers.exceptions import (
    ProviderAccountError,
    ProviderRejectedError,
    ProviderRetryableError,
    WebhookRejectedError,
)
from apps.providers.fetch import fetch_output
from apps.providers.models import WebhookDelivery
from apps.providers.registry import adapter_get
from apps.providers.types import GenerationRequest, JobState, ProviderStatus
from tests.providers.conftest import poll_until_done

FLUX = "black-forest-labs/flux-schnell"
FLUX_OPTIONS = {"max_images": 4, "size": "aspect_ratio"}
SDXL_VERSION = "7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"
SDXL_OPTIONS = {"version": SDXL_VERSION, "max_images": 4, "negative_prompt": True, "size": "pixels"}
MODEL_ROUTE = f"replicate:POST /replicate/v1/models/{FLUX}/predictions"
VERSION_ROUTE = "replicate:POST /replicate/v1/predictions"
WEBHOOK_PATH = "/webhooks/providers/replicate/"


@pytest.fixture
def sim(simulator):
    simulator.knobs("replicate", job_seconds=0.2)
    return simulator


@pytest.fixture
def adapter() -> ReplicateAdapter:
    adapter = ReplicateAdapter()
    adapter.read_timeout = 2.0
    return adapter


def make_request(**overrides) -> GenerationRequest:
    fields = {
        "job_id": "gen-1", "provider_model": FLUX, "prompt": "a lighthouse at dusk", "width": 1024,
        "height": 1024, "aspect_ratio": "1:1", "num_images": 1, "seed": "42", "options": FLUX_OPTIONS,
    }
    return GenerationRequest(**(fields | overrides))


def run_to_end(adapter: ReplicateAdapter, submitted: ProviderStatus, *, seconds: float = 5.0) -> list:
    """Poll until the prediction ends; every status seen, the submit answer first."""
    seen = [submitted]
    deadline = time.monotonic() + seconds
    while not seen[-1].state.is_terminal:
        assert time.monotonic() < deadline, f"still {seen[-1].state} after {seconds}s"
        time.sleep(0.05)
        seen.append(adapter.poll(submitted.provider_job_id))
    return seen


def raw_prediction(sim, prediction_id: str) -> dict:
    response = httpx.get(f"{sim.url}/replicate/v1/predictions/{prediction_id}",
                         headers={"Authorization": "Bearer r8_simulated"}, timeout=5)
    response.raise_for_status()
    return response.json()


def image_size(url: str) -> tuple[str, tuple[int, int]]:
    content, content_type = fetch_output(url)
    image = Image.open(io.BytesIO(content))
    return content_type, image.size


def sign(body: bytes, *, webhook_id: str, timestamp: int | None = None, secret: str | None = None) -> dict:
    """Standard Webhooks headers, by default signed now with the configured secret."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    secret = secret or django_settings.REPLICATE_WEBHOOK_SECRET
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": "v1," + base64.b64encode(digest).decode()}


def ledger(generation) -> list[tuple[str, int]]:
    return sorted(LedgerEntry.objects.filter(generation=generation).values_list("kind", "amount"))


# ---------------------------------------------------------------- the adapter over HTTP


def test_registers_and_is_configured_from_settings(db, sim, settings):  # no variable: a stored key is looked up
    assert isinstance(adapter_get("replicate"), ReplicateAdapter)
    assert ReplicateAdapter.blocking is False
    assert ReplicateAdapter.is_configured()
    settings.REPLICATE_API_TOKEN = ""
    assert not ReplicateAdapter.is_configured()


@pytest.mark.parametrize(
    "variant, num_images, aspect_ratio, size, scheme",
    [
        ("default", 2, "16:9", (1344, 768), "http://"),
        ("string", 1, "3:2", (1216, 832), "http://"),
        ("data_uri", 1, "9:16", (768, 1344), "data:image/png;base64,"),
        ("data_uri_list", 2, "1:1", (1024, 1024), "data:image/png;base64,"),
    ],
)
def test_each_output_shape_becomes_downloadable_outputs(
    sim, adapter, variant, num_images, aspect_ratio, size, scheme
):
    sim.knobs("replicate", output_variant=variant)
    submitted = adapter.submit(make_request(num_images=num_images, aspect_ratio=aspect_ratio))
    assert submitted.state == JobState.QUEUED and submitted.provider_job_id

    final = run_to_end(adapter, submitted)[-1]

    assert final.state == JobState.SUCCEEDED
    assert final.provider_job_id == submitted.provider_job_id
    assert len(final.outputs) == num_images
    assert all(output.url.startswith(scheme) for output in final.outputs)
    assert {output.content_type for output in final.outputs} == {"image/png"}
    assert [image_size(output.url) for output in final.outputs] == [("image/png", size)] * num_images
    assert final.progress == 1.0 and final.seed == "42" and final.predict_seconds > 0
    assert len({output.url for output in final.outputs}) == num_images


def test_null_output_on_success_is_a_failure(sim, adapter):
    sim.knobs("replicate", output_variant="null")
    final = run_to_end(adapter, adapter.submit(make_request()))[-1]
    assert (final.state, final.error_code, final.outputs) == (JobState.FAILED, "empty_output", ())


def test_aborted_prediction_is_canceled(sim, adapter):
    sim.knobs("replicate", output_variant="aborted")
    final = run_to_end(adapter, adapter.submit(make_request()))[-1]
    assert final.state == JobState.CANCELED
    assert raw_prediction(sim, final.provider_job_id)["status"] == "aborted"


def test_model_route_posts_input_to_the_model(sim, adapter):
    submitted = adapter.submit(make_request(num_images=3, aspect_ratio="4:3"))
    stats = sim.stats()
    assert stats[MODEL_ROUTE] == 1 and VERSION_ROUTE not in stats
    prediction = raw_prediction(sim, submitted.provider_job_id)
    assert prediction["model"] == FLUX and prediction["version"] == "hidden"
    assert prediction["input"] == {
        "prompt": "a lighthouse at dusk", "num_outputs": 3, "seed": 42, "aspect_ratio": "4:3"
    }


def test_version_route_posts_version_and_pixel_size(sim, adapter):
    submitted = adapter.submit(make_request(
        provider_model="stability-ai/sdxl", options=SDXL_OPTIONS, width=768, height=512, num_images=2,
        negative_prompt="blurry",
    ))
    stats = sim.stats()
    assert stats[VERSION_ROUTE] == 1 and MODEL_ROUTE not in stats
    prediction = raw_prediction(sim, submitted.provider_job_id)
    assert prediction["version"] == SDXL_VERSION
    assert prediction["input"] == {
        "prompt": "a lighthouse at dusk", "num_outputs": 2, "seed": 42, "width": 768, "height": 512,
        "negative_prompt": "blurry",
    }
    final = run_to_end(adapter, submitted)[-1]
    assert [image_size(output.url)[1] for output in final.outputs] == [(768, 512), (768, 512)]


def test_single_image_models_get_no_num_outputs_and_no_empty_negative_prompt(sim, adapter):
    submitted = adapter.submit(make_request(provider_model="black-forest-labs/flux-1.1-pro",
                                            options={"size": "aspect_ratio"}))
    prediction = raw_prediction(sim, submitted.provider_job_id)
    assert prediction["input"] == {"prompt": "a lighthouse at dusk", "seed": 42, "aspect_ratio": "1:1"}


def test_prefer_wait_returns_the_finished_prediction_from_submit(sim, adapter):
    submitted = adapter.submit(make_request(options=FLUX_OPTIONS | {"prefer_wait": 5}))
    assert submitted.state == JobState.SUCCEEDED
    assert len(submitted.outputs) == 1 and image_size(submitted.outputs[0].url)[1] == (1024, 1024)
    assert not [key for key in sim.stats() if key.startswith("replicate:GET")]


def test_prefer_wait_shorter_than_the_job_returns_it_still_going(sim, adapter):
    sim.knobs("replicate", job_seconds=3)
    started = time.monotonic()
    submitted = adapter.submit(make_request(options=FLUX_OPTIONS | {"prefer_wait": 1}))
    assert 0.9 < time.monotonic() - started < 5
    assert submitted.state == JobState.RUNNING
    adapter.cancel(submitted.provider_job_id)


def test_progress_comes_from_the_tqdm_lines_in_the_logs(sim, adapter):
    sim.knobs("replicate", job_seconds=1.0)
    seen = run_to_end(adapter, adapter.submit(make_request()))
    running = [status.progress for status in seen if status.state == JobState.RUNNING]
    assert all(p is not None and 0 <= p < 1 for p in running)
    assert running == sorted(running) and len(set(running)) >= 3
    assert seen[-1].progress == 1.0


def test_log_parsing_reads_the_last_bar_and_the_seed():
    logs = ("Using seed: 16010\nPrompt: a corgi\ntxt2img mode\n  0%|          | 0/50 [00:00<?, ?it/s]\n"
            " 38%|███▊      | 19/50 [00:01<00:02, 14.13it/s]\n")
    assert payloads.log_progress(logs) == 0.38
    assert payloads.log_progress("Using seed: 1\n") is None
    status = payloads.prediction_status({"id": "p1", "status": "processing", "input": {}, "logs": logs})
    assert (status.state, status.progress, status.seed) == (JobState.RUNNING, 0.38, "16010")


def test_seed_not_sent_is_read_from_the_logs(sim, adapter):
    # Too large for the model's integer input: the model picks, and says which in its logs.
    final = run_to_end(adapter, adapter.submit(make_request(seed=str(2**64 - 1))))[-1]
    prediction = raw_prediction(sim, final.provider_job_id)
    assert "seed" not in prediction["input"]
    assert f"Using seed: {final.seed}\n" in prediction["logs"] and final.seed.isdigit()


def test_cancel_ends_the_prediction(sim, adapter):
    sim.knobs("replicate", job_seconds=5)
    submitted = adapter.submit(make_request())
    adapter.cancel(submitted.provider_job_id)
    assert adapter.poll(submitted.provider_job_id).state == JobState.CANCELED


def test_failed_prediction_is_failed_with_the_model_error(sim, adapter):
    sim.knobs("replicate", fail_job_rate=1.0)
    final = run_to_end(adapter, adapter.submit(make_request()))[-1]
    assert (final.state, final.error_code) == (JobState.FAILED, "model_error")
    assert final.error_message.startswith("E1000")


def test_safety_failure_is_blocked(sim, adapter):
    final = run_to_end(adapter, adapter.submit(make_request(prompt="something forbidden")))[-1]
    assert (final.state, final.error_code) == (JobState.BLOCKED, "content_blocked")
    assert final.error_message == "E005: The input or output was flagged as sensitive."


def test_429_is_retryable_with_retry_after(sim, adapter):
    sim.knobs("replicate", rate_limit_rate=1.0, retry_after=3)
    with pytest.raises(ProviderRetryableError) as raised:
        adapter.submit(make_request())
    assert raised.value.retry_after == 3.0
    assert raised.value.extra["retry_after"] == 3 and raised.value.extra["status"] == 429
    assert "replicate" not in raised.value.message.lower()


def test_429_retry_after_from_the_body_when_no_header():
    body = {"detail": "Request was throttled.", "status": 429, "retry_after": 5}
    assert payloads.retry_after(httpx.Response(429, json=body)) == 5.0
    assert payloads.retry_after(httpx.Response(429, json=body, headers={"retry-after": "2"})) == 2.0
    assert payloads.retry_after(httpx.Response(429, json={"detail": "Request was throttled."})) is None


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_retryable(sim, adapter, status):
    sim.knobs("replicate", error_rate=1.0, error_status=status)
    with pytest.raises(ProviderRetryableError) as raised:
        adapter.poll("anything")
    assert raised.value.extra["status"] == status


def test_a_hung_call_times_out_as_retryable(sim, adapter):
    sim.knobs("replicate", timeout_rate=1.0, hang_seconds=10)
    adapter.read_timeout = 0.3
    started = time.monotonic()
    with pytest.raises(ProviderRetryableError):
        adapter.submit(make_request())
    assert time.monotonic() - started < 6  # well before the 10 s hang


def test_a_bad_token_makes_the_route_unusable_without_retrying(sim, adapter, settings):
    settings.REPLICATE_API_TOKEN = "r8_wrong"
    with pytest.raises(ProviderAccountError) as raised:
        adapter.submit(make_request())
    assert raised.value.extra["status"] == 401
    assert "replicate" not in raised.value.message.lower()


@pytest.mark.parametrize(
    "overrides, title",
    [
        ({"aspect_ratio": "7:5"}, "Input validation failed"),
        ({"options": FLUX_OPTIONS | {"max_images": 9}, "num_images": 9}, "Input validation failed"),
        ({"options": {"version": "not a version"}}, "Invalid version or not permitted"),
    ],
)
def test_invalid_input_is_rejected(sim, adapter, overrides, title):
    with pytest.raises(ProviderRejectedError) as raised:
        adapter.submit(make_request(**overrides))
    assert raised.value.extra["status"] == 422
    assert json.loads(raised.value.extra["body"])["title"] == title


def test_unknown_prediction_is_rejected(sim, adapter):
    with pytest.raises(ProviderRejectedError) as raised:
        adapter.poll("doesnotexist")
    assert raised.value.extra["status"] == 404


def test_signature_matches_the_standard_webhooks_test_vector():
    assert webhooks.signature(
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", webhook_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp="1614265330", body=b'{"test": 2432232314}',
    ) == "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_parse_webhook_accepts_any_matching_v1_entry(sim):
    body = json.dumps({"id": "p1", "status": "succeeded", "input": {}, "output": ["https://x.test/a.png"]}).encode()
    headers = sign(body, webhook_id="msg_1")
    headers["webhook-signature"] = f"v1,bm90IGl0 {headers['webhook-signature']}"  # a rotated-out key first
    event = ReplicateAdapter().parse_webhook(headers, body)
    assert (event.delivery_id, event.status.provider_job_id) == ("msg_1", "p1")
    assert event.status.state == JobState.SUCCEEDED
    with pytest.raises(WebhookRejectedError):
        ReplicateAdapter().parse_webhook(headers, b"[]")


# ---------------------------------------------------------------- through the generation services


def test_end_to_end_by_polling_on_the_model_route(sim, catalog, user, scheduled_polls):
    generation = services.generation_create(
        user=user, model_slug="flux-schnell", prompt="a lighthouse", aspect_ratio="1:1", num_images=2, seed=42
    )
    services.generation_run(generation_id=generation.id)
    assert scheduled_polls == [str(generation.id)]
    poll_until_done(generation.id)

    generation.refresh_from_db()
    assert (generation.status, generation.provider) == (Status.SUCCEEDED, "replicate")
    assert generation.progress == 1.0
    assert [(image.index, image.width, image.height) for image in generation.images.all()] == [
        (0, 1024, 1024), (1, 1024, 1024)
    ]
    assert ledger(generation) == [("capture", 0), ("reserve", -2)]
    assert sim.stats()[MODEL_ROUTE] == 1


def test_end_to_end_on_the_version_route(sim, catalog, user, scheduled_polls):
    sdxl = CatalogModel.objects.get(slug="sdxl")
    sdxl.routes = [route for route in sdxl.routes if route["provider"] == "replicate"]
    sdxl.save()
    generation = services.generation_create(
        user=user, model_slug="sdxl", prompt="a harbour", aspect_ratio="3:2", negative_prompt="fog", seed=7
    )
    services.generation_run(generation_id=generation.id)
    poll_until_done(generation.id)

    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    assert [(image.width, image.height) for image in generation.images.all()] == [(1248, 832)]
    assert (generation.width, generation.height) == (1248, 832)
    assert ledger(generation) == [("capture", 0), ("reserve", -2)]
    assert sim.stats()[VERSION_ROUTE] == 1


def test_a_blocked_prompt_is_rejected_once_and_released(sim, catalog, user, scheduled_polls):
    generation = services.generation_create(user=user, model_slug="flux-schnell", prompt="a forbidden door")
    services.generation_run(generation_id=generation.id)
    poll_until_done(generation.id)

    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.REJECTED, "content_blocked")
    assert ledger(generation) == [("release", 1), ("reserve", -1)]
    assert sim.stats()[MODEL_ROUTE] == 1  # never retried, never sent elsewhere


# ---------------------------------------------------------------- webhooks into the endpoint


@pytest.fixture
def finished_prediction(sim, catalog, user, scheduled_polls, adapter):
    """A generation running on a prediction the simulator has finished, and that prediction's body,
    as the webhook would carry it."""
    generation = services.generation_create(user=user, model_slug="flux-schnell", prompt="a quiet bay",
                                            aspect_ratio="1:1", seed=5)
    services.generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.status == Status.RUNNING
    run_to_end(adapter, ProviderStatus(state=JobState.QUEUED, provider_job_id=generation.provider_job_id))
    body = json.dumps(raw_prediction(sim, generation.provider_job_id)).encode()
    return generation, body


def post_webhook(body: bytes, headers: dict[str, str]):
    # The endpoint stores the delivery and hands it to a task at commit (run inline: eager tasks).
    with TestCase.captureOnCommitCallbacks(execute=True):
        return Client().post(WEBHOOK_PATH, data=body, content_type="application/json", headers=headers)


def test_a_signed_webhook_finishes_the_generation(finished_prediction):
    generation, body = finished_prediction
    headers = sign(body, webhook_id="msg_ok")

    assert post_webhook(body, headers).status_code == 204

    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    assert [(image.width, image.height) for image in generation.images.all()] == [(1024, 1024)]
    assert ledger(generation) == [("capture", 0), ("reserve", -1)]


@pytest.mark.parametrize("forgery", ["wrong secret", "tampered body", "no signature", "other scheme"])
def test_a_forged_webhook_is_refused(finished_prediction, forgery):
    generation, body = finished_prediction
    secret = "whsec_" + base64.b64encode(b"not-the-secret").decode() if forgery == "wrong secret" else None
    headers = sign(body, webhook_id="msg_forged", secret=secret)
    if forgery == "tampered body":
        body = body.replace(b'"succeeded"', b'"failed"')
    elif forgery == "no signature":
        del headers["webhook-signature"]
    elif forgery == "other scheme":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v1a,")

    response = post_webhook(body, headers)

    assert response.status_code == 400 and response.json()["code"] == "invalid_webhook"
    generation.refresh_from_db()
    assert generation.status == Status.RUNNING
    assert ledger(generation) == [("reserve", -1)]
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("skew", [-1, 1])
def test_a_webhook_outside_the_tolerance_is_refused(finished_prediction, settings, skew):
    generation, body = finished_prediction
    settings.PROVIDER_WEBHOOK_TOLERANCE_SECONDS = 60
    timestamp = int(time.time()) + skew * 75  # a replay from the past, or a clock from the future
    headers = sign(body, webhook_id="msg_stale", timestamp=timestamp)

    assert post_webhook(body, headers).status_code == 400

    generation.refresh_from_db()
    assert generation.status == Status.RUNNING and ledger(generation) == [("reserve", -1)]


def test_a_duplicate_delivery_is_applied_once(finished_prediction):
    generation, body = finished_prediction
    headers = sign(body, webhook_id="msg_dup")

    assert post_webhook(body, headers).status_code == 204
    generation.refresh_from_db()
    revision = generation.revision
    assert post_webhook(body, headers).status_code == 204  # acknowledged, so the sender stops

    generation.refresh_from_db()
    assert (generation.status, generation.revision) == (Status.SUCCEEDED, revision)
    assert WebhookDelivery.objects.filter(provider="replicate", delivery_id="msg_dup").count() == 1
    assert ledger(generation) == [("capture", 0), ("reserve", -1)]


def test_a_start_webhook_reports_progress(finished_prediction):
    generation, body = finished_prediction
    prediction = json.loads(body) | {"status": "processing", "output": None,
                                     "logs": "Using seed: 5\n 45%|████▌     | 9/20 [00:01<00:01, 9.1it/s]\n"}
    body = json.dumps(prediction).encode()
    headers = sign(body, webhook_id="msg_start")

    assert post_webhook(body, headers).status_code == 204

    generation.refresh_from_db()
    assert (generation.status, generation.progress) == (Status.RUNNING, 0.45)


@pytest.mark.django_db(transaction=True)
def test_the_simulator_webhooks_finish_the_generation_without_polling(
    sim, live_server, settings, catalog, user, scheduled_polls
):
    settings.PROVIDER_WEBHOOK_BASE_URL = live_server.url
    sim.knobs("replicate", job_seconds=0.3, webhook_copies=2)

    # Runs at commit: the run task is eager in tests.
    generation = services.generation_create(
        user=user, model_slug="flux-schnell", prompt="a lighthouse at dusk", aspect_ratio="16:9", seed=9
    )

    deadline = time.monotonic() + 10
    while Generation.objects.get(pk=generation.pk).status != Status.SUCCEEDED:
        assert time.monotonic() < deadline, "no webhook finished the generation"
        time.sleep(0.05)
    while sim.stats().get("replicate:webhook_204", 0) < 4:  # start and completed, each twice
        assert time.monotonic() < deadline, sim.stats()
        time.sleep(0.05)

    generation.refresh_from_db()
    assert scheduled_polls == [str(generation.id)]  # a poll was scheduled, never run
    assert not [key for key in sim.stats() if key.startswith("replicate:GET")]
    assert [(image.width, image.height) for image in generation.images.all()] == [(1344, 768)]
    assert ledger(generation) == [("capture", 0), ("reserve", -1)]
    assert WebhookDelivery.objects.filter(provider_job_id=generation.provider_job_id).count() in (1, 2)
