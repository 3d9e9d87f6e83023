"""The fal queue adapter against the simulated fal API, over real HTTP, and end to end through
the generation services and the webhook endpoint."""

import hashlib
import io
import json
import time

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client, TestCase
from PIL import Image

from apps.credits.models import LedgerEntry
from apps.generations import services, tasks
from apps.generations.models import Generation, Status
from apps.providers.adapters.fal import FalQueueAdapter, payloads, signatures
from apps.providers.adapters.fal.adapter import _raise_for_error
from apps.providers.exceptions import (
    ProviderAccountError,
    ProviderBlockedError,
    ProviderRejectedError,
    ProviderRetryableError,
    WebhookRejectedError,
)
from apps.providers.fetch import fetch_output
from apps.providers.models import WebhookDelivery
from apps.providers.registry import adapter_get
from apps.providers.retry import call_with_retry
from apps.providers.types import GenerationRequest, JobState, ProviderStatus

FLUX = "fal-ai/flux/dev"
KLING = "fal-ai/kling-video/v2.1/standard/text-to-video"
WEBHOOK_PATH = "/webhooks/providers/fal/"
SUBMIT_FLUX = f"fal:POST /fal/{FLUX}"


@pytest.fixture
def sim(simulator):
    simulator.knobs("fal", job_seconds=0.25)
    signatures._keys.clear()  # each test starts with no cached signing keys
    return simulator


@pytest.fixture
def adapter() -> FalQueueAdapter:
    adapter = FalQueueAdapter()
    adapter.read_timeout = 2.0
    return adapter


@pytest.fixture
def scheduled_polls(monkeypatch):
    """Stands in for the broker: polls the services schedule are recorded, not run. (Eager Celery
    would run each one inline at once, recursively, ignoring the countdown.)"""
    scheduled = []

    class PollQueue:
        @staticmethod
        def apply_async(*, kwargs, countdown=None):
            scheduled.append(kwargs["generation_id"])

        @staticmethod
        def delay(*, generation_id):
            scheduled.append(generation_id)

    monkeypatch.setattr(tasks, "generation_poll_task", PollQueue)
    return scheduled


def make_request(**overrides) -> GenerationRequest:
    fields = dict(job_id="gen-1", provider_model=FLUX, prompt="a lighthouse at dusk", width=1024, height=1024,
                  aspect_ratio="1:1", num_images=1, seed="42", options={"max_images": 4})
    return GenerationRequest(**(fields | overrides))


def run_to_end(adapter: FalQueueAdapter, submitted: ProviderStatus, *, seconds: float = 5.0) -> list:
    """Poll until the job ends; every status seen, the submit answer first."""
    seen = [submitted]
    deadline = time.monotonic() + seconds
    while not seen[-1].state.is_terminal:
        assert time.monotonic() < deadline, f"still {seen[-1].state} after {seconds}s"
        time.sleep(0.03)
        seen.append(adapter.poll(submitted.provider_job_id))
    return seen


def image_size(url: str) -> tuple[str, tuple[int, int]]:
    content, content_type = fetch_output(url)
    return content_type, Image.open(io.BytesIO(content)).size


def stats_with(sim, prefix: str) -> dict[str, int]:
    return {key: value for key, value in sim.stats().items() if key.startswith(prefix)}


def ledger(generation) -> list[tuple[str, int]]:
    return sorted(LedgerEntry.objects.filter(generation=generation).values_list("kind", "amount"))


# ---------------------------------------------------------------- the adapter over HTTP


def test_registers_and_is_configured_from_settings(db, sim, settings):  # no variable: a stored key is looked up
    assert isinstance(adapter_get("fal"), FalQueueAdapter)
    assert FalQueueAdapter.blocking is False
    assert FalQueueAdapter.is_configured()
    settings.FAL_KEY = ""
    assert not FalQueueAdapter.is_configured()


@pytest.mark.parametrize(
    "size, image_size",
    [
        ((1024, 1024), "square_hd"),
        ((1024, 576), "landscape_16_9"),
        ((576, 1024), "portrait_16_9"),
        ((1024, 768), "landscape_4_3"),
        ((768, 1024), "portrait_4_3"),
        ((1360, 768), {"width": 1360, "height": 768}),  # 16:9, but not a preset's size
    ],
)
def test_sizes_become_a_preset_only_at_the_presets_exact_size(size, image_size):
    width, height = size
    assert payloads.model_input(make_request(width=width, height=height)) == {
        "prompt": "a lighthouse at dusk", "image_size": image_size, "num_images": 1,
        "enable_safety_checker": True, "seed": 42,
    }


def test_negative_prompt_is_sent_only_when_given_and_big_seeds_as_exact_ints():
    body = payloads.model_input(make_request(negative_prompt="fog", seed=str(2**64 - 1), num_images=3))
    assert (body["negative_prompt"], body["seed"], body["num_images"]) == ("fog", 18446744073709551615, 3)
    assert "seed" not in payloads.model_input(make_request(seed=None))
    assert "negative_prompt" not in payloads.model_input(make_request(negative_prompt=""))


def test_a_job_is_queued_then_running_then_succeeds_with_downloadable_images(sim, adapter):
    sim.knobs("fal", job_seconds=1.0)
    submitted = adapter.submit(make_request(width=1360, height=768, num_images=2))
    seen = run_to_end(adapter, submitted)

    request_id, app = submitted.provider_job_id.split("|")
    assert (len(request_id), app) == (36, "fal-ai/flux")
    assert (submitted.state, submitted.queue_position, submitted.progress) == (JobState.QUEUED, 2, None)
    states = [status.state for status in seen]
    assert states == sorted(states, key=[JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED].index)
    queued = [status for status in seen if status.state == JobState.QUEUED]
    positions = [status.queue_position for status in queued]
    assert positions == sorted(positions, reverse=True) and positions[-1] < 2
    assert all(status.progress is None for status in queued)
    # fal reports no percentage; the tqdm bars a model prints in its logs stand in for one.
    progress = [status.progress for status in seen if status.state == JobState.RUNNING]
    assert progress and progress == sorted(progress) and all(0 <= value < 1 for value in progress)
    done = seen[-1]
    assert (done.state, done.progress, done.seed, done.provider_job_id) == (
        JobState.SUCCEEDED, 1.0, "42", submitted.provider_job_id
    )
    assert [image_size(output.url) for output in done.outputs] == [("image/png", (1360, 768))] * 2
    assert sim.stats()[SUBMIT_FLUX] == 1


def test_log_progress_reads_the_last_progress_bar():
    assert payloads.log_progress([{"message": " 30%|###       | 3/10"}, {"message": "saving"}]) == 0.3
    assert payloads.log_progress([{"message": "loading weights"}]) is None
    assert payloads.log_progress(None) is None


@pytest.mark.parametrize(
    "variant, state, seed, error_code",
    [
        ("default", JobState.SUCCEEDED, "42", ""),
        ("big_seed", JobState.SUCCEEDED, str(2**64 + 42), ""),  # kept exactly, as text
        ("nsfw_flag", JobState.BLOCKED, None, "content_policy_violation"),
        ("completed_error", JobState.FAILED, None, "request_timeout"),  # COMPLETED is not success
    ],
)
def test_each_output_variant(sim, adapter, variant, state, seed, error_code):
    sim.knobs("fal", output_variant=variant)
    done = run_to_end(adapter, adapter.submit(make_request()))[-1]
    assert (done.state, done.seed, done.error_code) == (state, seed, error_code)
    assert len(done.outputs) == (1 if state == JobState.SUCCEEDED else 0)


def test_a_blocked_prompt_ends_blocked_after_one_result_fetch(sim, adapter):
    submitted = adapter.submit(make_request(prompt="a forbidden door"))
    done = run_to_end(adapter, submitted)[-1]
    request_id, app = submitted.provider_job_id.split("|")

    assert (done.state, done.error_code, done.outputs) == (JobState.BLOCKED, "content_policy_violation", ())
    assert sim.stats()[f"fal:GET /fal/{app}/requests/{request_id}"] == 1  # never fetched again


def test_a_failed_job_reports_its_error_type(sim, adapter):
    sim.knobs("fal", fail_job_rate=1.0)
    done = run_to_end(adapter, adapter.submit(make_request()))[-1]
    assert (done.state, done.error_code, done.error_message) == (
        JobState.FAILED, "runner_disconnected", "Runner disconnected"
    )


def test_subpath_models_submit_on_the_full_id_and_track_on_owner_app(sim, adapter):
    submitted = adapter.submit(make_request(provider_model=KLING))
    done = run_to_end(adapter, submitted)[-1]
    request_id = submitted.provider_job_id.split("|")[0]

    assert submitted.provider_job_id == f"{request_id}|fal-ai/kling-video"
    assert done.state == JobState.SUCCEEDED
    assert sim.stats()[f"fal:POST /fal/{KLING}"] == 1
    assert sim.stats()[f"fal:GET /fal/fal-ai/kling-video/requests/{request_id}"] == 1
    assert not stats_with(sim, f"fal:GET /fal/{KLING}/requests")  # the subpath never appears in tracking


@pytest.mark.parametrize(
    "model_id, status_url, app",
    [
        (KLING, None, "fal-ai/kling-video"),
        ("workflows/someone/my-flow/run", None, "workflows/someone/my-flow"),
        (FLUX, "http://sim/fal/fal-ai/flux/requests/abc/status", "fal-ai/flux"),
        # What fal returned wins over what we would have guessed from the model id.
        ("comfy/someone/flow", "http://sim/fal/someone/flow/requests/abc/status", "someone/flow"),
    ],
)
def test_the_owner_app_comes_from_the_returned_status_url_else_the_model_id(model_id, status_url, app):
    assert payloads.app_of(model_id=model_id, status_url=status_url, base_url="http://sim/fal") == app


def test_cancel_stops_a_queued_job(sim, adapter):
    sim.knobs("fal", job_seconds=30)
    submitted = adapter.submit(make_request())
    request_id, app = submitted.provider_job_id.split("|")

    adapter.cancel(submitted.provider_job_id)

    assert sim.stats()[f"fal:PUT /fal/{app}/requests/{request_id}/cancel"] == 1
    done = adapter.poll(submitted.provider_job_id)
    assert (done.state, done.error_code) == (JobState.FAILED, "request_cancelled")


def test_cancelling_a_finished_or_unknown_job_is_a_no_op(sim, adapter):
    submitted = adapter.submit(make_request())
    run_to_end(adapter, submitted)
    adapter.cancel(submitted.provider_job_id)  # 400 ALREADY_COMPLETED
    adapter.cancel("00000000-0000-0000-0000-000000000000|fal-ai/flux")  # 404 NOT_FOUND


def test_429_is_retryable_with_retry_after(sim, adapter):
    sim.knobs("fal", rate_limit_rate=1.0, retry_after=7)
    with pytest.raises(ProviderRetryableError) as raised:
        adapter.submit(make_request())
    assert (raised.value.retry_after, raised.value.extra["status"]) == (7.0, 429)


def test_429_while_polling_is_retryable_and_the_job_survives(sim, adapter):
    submitted = adapter.submit(make_request())
    sim.knobs("fal", rate_limit_rate=1.0, retry_after=2)
    with pytest.raises(ProviderRetryableError) as raised:
        adapter.poll(submitted.provider_job_id)
    assert raised.value.retry_after == 2.0
    sim.knobs("fal", rate_limit_rate=0.0)
    assert run_to_end(adapter, submitted)[-1].state == JobState.SUCCEEDED


@pytest.mark.parametrize("status", [500, 503, 504])
def test_5xx_is_retryable(sim, adapter, status):
    sim.knobs("fal", error_rate=1.0, error_status=status)
    with pytest.raises(ProviderRetryableError) as raised:
        adapter.submit(make_request())
    assert (raised.value.retry_after, raised.value.extra["status"]) == (None, status)


def test_a_failing_submit_is_tried_twice_in_all(sim, adapter):
    sim.knobs("fal", error_rate=1.0, error_status=503)
    with pytest.raises(ProviderRetryableError):
        call_with_retry(lambda: adapter.submit(make_request()), adapter.retry_policy, sleep=lambda _: None)
    assert sim.stats()[SUBMIT_FLUX] == 2  # a retried POST may queue (and bill) twice: once is enough


def test_a_hung_call_times_out_as_retryable(sim, adapter):
    sim.knobs("fal", timeout_rate=1.0, hang_seconds=10)
    adapter.read_timeout = 0.3
    started = time.monotonic()
    with pytest.raises(ProviderRetryableError) as raised:
        adapter.submit(make_request())
    assert time.monotonic() - started < 6  # well before the 10 s hang
    assert raised.value.extra == {"transport": "ReadTimeout"}


def test_a_wrong_key_makes_the_route_unusable_without_retrying(sim, adapter, settings):
    settings.FAL_KEY = "not-the-key"
    with pytest.raises(ProviderAccountError) as raised:
        call_with_retry(lambda: adapter.submit(make_request()), adapter.retry_policy, sleep=lambda _: None)
    assert raised.value.extra["status"] == 401
    assert "fal" not in raised.value.message.lower()
    assert sim.stats()[SUBMIT_FLUX] == 1


def test_invalid_input_is_rejected(sim, adapter):
    with pytest.raises(ProviderRejectedError) as raised:
        adapter.submit(make_request(num_images=5))
    extra = raised.value.extra
    assert (extra["status"], extra["detail"]) == (422, "ensure this value is between 1 and 4")


def test_an_unknown_request_is_rejected(sim, adapter):
    with pytest.raises(ProviderRejectedError):
        adapter.poll("00000000-0000-0000-0000-000000000000|fal-ai/flux")


def test_a_content_policy_answer_to_a_call_is_a_blocked_error():
    response = httpx.Response(422, json={"detail": [{"loc": ["body", "prompt"], "msg": "flagged",
                                                     "type": "content_policy_violation"}]})
    with pytest.raises(ProviderBlockedError) as raised:
        _raise_for_error(response)
    assert raised.value.extra == {"status": 422, "error_type": "", "detail": "flagged"}


# ---------------------------------------------------------------- webhook signatures


def sign_with_simulator(sim, request_id: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    payload = {"request_id": request_id, "body": body.decode()}
    if timestamp is not None:
        payload["timestamp"] = timestamp
    response = httpx.post(f"{sim.url}/fal/_sign", json=payload, timeout=5)
    response.raise_for_status()
    return response.json()["headers"]


def sign_with_own_key(request_id: str, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    message = "\n".join([request_id, "simulated-user", stamp, hashlib.sha256(body).hexdigest()]).encode()
    signature = Ed25519PrivateKey.generate().sign(message).hex()
    return {"x-fal-webhook-request-id": request_id, "x-fal-webhook-user-id": "simulated-user",
            "x-fal-webhook-timestamp": stamp, "x-fal-webhook-signature": signature}


WEBHOOK_IMAGES = {"images": [{"url": "http://127.0.0.1:1/x.png", "width": 8, "height": 8,
                               "content_type": "image/png"}]}
CONTENT_POLICY = {"detail": [{"loc": ["body", "prompt"], "msg": "flagged",
                               "type": "content_policy_violation"}]}


@pytest.mark.parametrize(
    "body, state, error_code, seed",
    [
        ({"status": "OK", "payload": {**WEBHOOK_IMAGES, "seed": 2**64 + 1}},
         JobState.SUCCEEDED, "", str(2**64 + 1)),
        ({"status": "OK", "payload": {**WEBHOOK_IMAGES, "has_nsfw_concepts": [True]}},
         JobState.BLOCKED, "content_policy_violation", None),
        ({"status": "ERROR", "error": "Invalid status code: 422",
          "payload": CONTENT_POLICY},
         JobState.BLOCKED, "content_policy_violation", None),
        ({"status": "ERROR", "error": "Invalid status code: 503",
          "payload": {"detail": "Runner disconnected", "error_type": "runner_disconnected"}},
         JobState.FAILED, "runner_disconnected", None),
        ({"status": "OK", "payload": None, "payload_error": "not JSON serialisable"},
         JobState.FAILED, "payload_error", None),
    ],
)
def test_parse_webhook_reads_each_outcome(sim, body, state, error_code, seed):
    raw = json.dumps({"request_id": "req-1", "gateway_request_id": "req-1", **body}).encode()
    event = FalQueueAdapter().parse_webhook(sign_with_simulator(sim, "req-1", raw), raw)
    assert (event.status.state, event.status.error_code, event.status.seed) == (state, error_code, seed)
    assert event.status.provider_job_id == "req-1"
    assert event.delivery_id == f"req-1:{hashlib.sha256(raw).hexdigest()[:32]}"


def test_a_resent_delivery_keeps_its_delivery_id_and_the_keys_are_fetched_once(sim):
    raw = json.dumps({"request_id": "req-2", "status": "OK", "payload": WEBHOOK_IMAGES}).encode()
    earlier = sign_with_simulator(sim, "req-2", raw, timestamp=int(time.time()) - 5)
    first = FalQueueAdapter().parse_webhook(earlier, raw)
    again = FalQueueAdapter().parse_webhook(sign_with_simulator(sim, "req-2", raw), raw)
    assert first.delivery_id == again.delivery_id
    assert sim.stats()["fal:jwks"] == 1


@pytest.mark.parametrize("skew", [-400, 400])
def test_a_webhook_outside_the_tolerance_is_refused(sim, skew):
    raw = b'{"request_id": "req-3", "status": "OK", "payload": {}}'
    headers = sign_with_simulator(sim, "req-3", raw, timestamp=int(time.time()) + skew)
    with pytest.raises(WebhookRejectedError):
        FalQueueAdapter().parse_webhook(headers, raw)


@pytest.mark.parametrize(
    "forge",
    [
        lambda sim, raw: sign_with_own_key("req-4", raw),  # somebody else's key
        lambda sim, raw: sign_with_simulator(sim, "req-4", raw.replace(b"OK", b"ERROR")),  # another body
        lambda sim, raw: sign_with_simulator(sim, "req-4", raw) | {"x-fal-webhook-user-id": "someone-else"},
        lambda sim, raw: sign_with_simulator(sim, "req-4", raw) | {"x-fal-webhook-signature": "zz"},
        lambda sim, raw: sign_with_simulator(sim, "req-4", raw) | {"x-fal-webhook-signature": ""},
    ],
    ids=["other-key", "other-body", "other-user", "not-hex", "unsigned"],
)
def test_a_forged_webhook_is_refused(sim, forge):
    raw = b'{"request_id": "req-4", "status": "OK", "payload": {}}'
    with pytest.raises(WebhookRejectedError):
        FalQueueAdapter().parse_webhook(forge(sim, raw), raw)


def test_an_unverified_signature_refreshes_the_keys_at_most_once_a_while(sim, monkeypatch):
    raw = b'{"request_id": "req-5", "status": "OK", "payload": {}}'
    for _ in range(3):
        with pytest.raises(WebhookRejectedError):
            FalQueueAdapter().parse_webhook(sign_with_own_key("req-5", raw), raw)
    assert sim.stats()["fal:jwks"] == 1  # no refetch storm from forgeries
    monkeypatch.setattr(signatures, "MIN_REFRESH_SECONDS", 0)
    with pytest.raises(WebhookRejectedError):
        FalQueueAdapter().parse_webhook(sign_with_own_key("req-5", raw), raw)
    assert sim.stats()["fal:jwks"] == 2  # a rotated key would have been picked up


def test_unreachable_signing_keys_refuse_the_webhook(sim, settings):
    settings.FAL_JWKS_URL = f"{sim.url}/fal/.well-known/missing.json"
    raw = b'{"request_id": "req-6", "status": "OK", "payload": {}}'
    with pytest.raises(WebhookRejectedError):
        FalQueueAdapter().parse_webhook(sign_with_simulator(sim, "req-6", raw), raw)


# ---------------------------------------------------------------- through the generation services


def _poll_until_done(generation_id) -> None:
    for _ in range(200):
        if not services.generation_poll(generation_id=generation_id):
            return
        time.sleep(0.03)
    pytest.fail("the generation never finished")


def test_end_to_end_by_polling(sim, catalog, user, scheduled_polls):
    # Nano Banana's first route is fal.
    generation = services.generation_create(user=user, model_slug="nano-banana", prompt="a lighthouse",
                                            aspect_ratio="16:9")
    services.generation_run(generation_id=generation.id)
    assert scheduled_polls == [str(generation.id)]
    _poll_until_done(generation.id)

    generation.refresh_from_db()
    assert (generation.status, generation.provider, generation.progress) == (Status.SUCCEEDED, "fal", 1.0)
    assert generation.provider_job_id.endswith("|fal-ai/nano-banana")
    assert [(image.index, image.width, image.height) for image in generation.images.all()] == [(0, 1344, 768)]
    assert ledger(generation) == [("capture", 0), ("reserve", -4)]
    assert sim.stats()["fal:POST /fal/fal-ai/nano-banana"] == 1


def test_a_blocked_prompt_is_rejected_once_and_released(sim, catalog, user, scheduled_polls):
    generation = services.generation_create(user=user, model_slug="nano-banana", prompt="a forbidden door")
    services.generation_run(generation_id=generation.id)
    _poll_until_done(generation.id)

    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.REJECTED, "content_blocked")
    assert ledger(generation) == [("release", 4), ("reserve", -4)]
    assert sim.stats()["fal:POST /fal/fal-ai/nano-banana"] == 1  # never retried, never sent elsewhere


# ---------------------------------------------------------------- webhooks into the endpoint


@pytest.fixture
def finished_job(sim, catalog, user, scheduled_polls, adapter):
    """A generation running on a job the simulator has finished, and the webhook body fal would send."""
    generation = services.generation_create(user=user, model_slug="nano-banana", prompt="a quiet bay")
    services.generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.status == Status.RUNNING
    time.sleep(0.3)  # past job_seconds
    request_id, app = generation.provider_job_id.split("|")
    result = httpx.get(f"{sim.url}/fal/{app}/requests/{request_id}",
                       headers={"Authorization": "Key simulated:key"}, timeout=5).json()
    body = json.dumps({"request_id": request_id, "gateway_request_id": request_id, "status": "OK",
                       "payload": result}).encode()
    return generation, request_id, body


def post_webhook(body: bytes, headers: dict[str, str]):
    # The endpoint stores the delivery and hands it to a task at commit (run inline: eager tasks).
    with TestCase.captureOnCommitCallbacks(execute=True):
        return Client().post(WEBHOOK_PATH, data=body, content_type="application/json", headers=headers)


def test_a_signed_webhook_finishes_the_generation(sim, finished_job):
    generation, request_id, body = finished_job
    assert post_webhook(body, sign_with_simulator(sim, request_id, body)).status_code == 204

    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    assert [(image.width, image.height) for image in generation.images.all()] == [(1024, 1024)]
    assert ledger(generation) == [("capture", 0), ("reserve", -4)]


def test_a_forged_or_stale_webhook_is_refused_and_changes_nothing(sim, finished_job):
    generation, request_id, body = finished_job
    forged = post_webhook(body, sign_with_own_key(request_id, body))
    stale = post_webhook(body, sign_with_simulator(sim, request_id, body, timestamp=int(time.time()) - 600))

    assert (forged.status_code, stale.status_code) == (400, 400)
    assert forged.json() == {"detail": "Webhook refused.", "code": "invalid_webhook"}
    generation.refresh_from_db()
    assert generation.status == Status.RUNNING
    assert not WebhookDelivery.objects.exists()
    assert ledger(generation) == [("reserve", -4)]


def test_a_duplicate_delivery_is_applied_once(sim, finished_job):
    generation, request_id, body = finished_job
    first = sign_with_simulator(sim, request_id, body, timestamp=int(time.time()) - 3)
    assert post_webhook(body, first).status_code == 204
    revision = Generation.objects.get(pk=generation.pk).revision
    resent = sign_with_simulator(sim, request_id, body)  # fal's retry: same body, signed again
    assert post_webhook(body, resent).status_code == 204

    generation.refresh_from_db()
    assert (generation.status, generation.revision) == (Status.SUCCEEDED, revision)
    assert list(WebhookDelivery.objects.values_list("provider", "provider_job_id")) == [("fal", request_id)]
    assert ledger(generation) == [("capture", 0), ("reserve", -4)]


def test_a_webhook_for_an_unknown_job_is_acknowledged_and_kept_unapplied(sim, db):
    body = b'{"request_id": "nobody", "status": "OK", "payload": {"images": []}}'
    assert post_webhook(body, sign_with_simulator(sim, "nobody", body)).status_code == 204
    # Kept for a job whose id is not saved yet (applied when it is), never applied otherwise.
    assert list(WebhookDelivery.objects.values_list("provider", "provider_job_id", "applied_at")) == [
        ("fal", "nobody", None)
    ]


@pytest.mark.django_db(transaction=True)
def test_the_simulator_webhooks_finish_the_generation_without_polling(
    sim, live_server, settings, catalog, user, scheduled_polls
):
    settings.PROVIDER_WEBHOOK_BASE_URL = live_server.url
    sim.knobs("fal", job_seconds=0.3, webhook_copies=2)

    # Runs at commit (eager tasks): submitted with a webhook URL pointing at the live server.
    generation = services.generation_create(user=user, model_slug="nano-banana", prompt="a lighthouse",
                                            aspect_ratio="9:16")

    deadline = time.monotonic() + 10
    while Generation.objects.get(pk=generation.pk).status != Status.SUCCEEDED:
        assert time.monotonic() < deadline, "no webhook finished the generation"
        time.sleep(0.05)
    while sim.stats().get("fal:webhook_204", 0) < 2:  # the copy, refused as a duplicate, still gets a 204
        assert time.monotonic() < deadline, sim.stats()
        time.sleep(0.05)

    generation.refresh_from_db()
    assert scheduled_polls == [str(generation.id)]  # a poll was scheduled, never run
    assert not [key for key in sim.stats() if key.startswith("fal:GET")]
    assert [(image.width, image.height) for image in generation.images.all()] == [(768, 1344)]
    assert ledger(generation) == [("capture", 0), ("reserve", -4)]
    assert WebhookDelivery.objects.filter(provider="fal").count() == 1
