"""The ComfyUI adapter against the simulated ComfyUI server (real HTTP and websocket, no mocks)."""

import copy
import io
import json
import socket
import time
import tomllib
from pathlib import Path

import httpx
import pytest
from django.core.files.storage import default_storage
from PIL import Image

from apps.catalog.models import CatalogModel
from apps.credits.models import LedgerEntry
from apps.generations import services
from apps.generations.models import GenerationImage, Status
from apps.generations.services import state
from apps.providers.adapters.comfyui import ComfyUIAdapter
from apps.providers.adapters.comfyui.adapter import preview_from_frame, websocket_url
from apps.providers.adapters.comfyui.workflow import (
    TemplateError,
    build_workflow,
    load_template,
    marked_nodes,
)
from apps.providers.exceptions import ProviderAccountError, ProviderRejectedError, ProviderRetryableError
from apps.providers.models import CircuitBreaker
from apps.providers.registry import adapter_get
from apps.providers.types import GenerationRequest, JobState

CATALOG = Path(__file__).resolve().parents[2] / "apps" / "catalog" / "catalog.toml"


def make_request(**overrides) -> GenerationRequest:
    fields = dict(
        job_id="gen-1", provider_model="sdxl", prompt="a lighthouse at dusk", negative_prompt="blurry, text",
        width=256, height=192, num_images=1, seed="42",
    )
    fields.update(overrides)
    return GenerationRequest(**fields)


@pytest.fixture
def comfyui(simulator):
    """The simulator with short jobs, once any prompt a previous test left behind has finished."""
    simulator.knobs("comfyui", job_seconds=0.2)
    deadline = time.monotonic() + 5
    while httpx.get(f"{simulator.url}/comfyui/prompt", timeout=2).json()["exec_info"]["queue_remaining"]:
        assert time.monotonic() < deadline, "the simulated ComfyUI queue did not drain"
        time.sleep(0.05)
    return simulator


@pytest.fixture
def adapter() -> ComfyUIAdapter:
    adapter = ComfyUIAdapter()
    adapter.http_timeout = httpx.Timeout(1.0)
    adapter.connect_seconds = 1.0
    adapter.recv_seconds = 0.05
    return adapter


def run(adapter, req, *, cancel_when=lambda updates: False):
    updates = []
    status = adapter.run(req, on_progress=updates.append, is_canceled=lambda: cancel_when(updates))
    return status, updates


def history(simulator, prompt_id: str) -> dict:
    return httpx.get(f"{simulator.url}/comfyui/history/{prompt_id}", timeout=2).json().get(prompt_id, {})


def wait_for_history(simulator, prompt_id: str) -> dict:
    deadline = time.monotonic() + 3
    while not (entry := history(simulator, prompt_id)):
        assert time.monotonic() < deadline, "the prompt never ended"
        time.sleep(0.05)
    return entry


# ---------------------------------------------------------------- registration and templates


def test_registers_as_a_blocking_adapter_configured_by_its_url(settings):
    assert isinstance(adapter_get("comfyui"), ComfyUIAdapter)
    assert ComfyUIAdapter.blocking is True
    settings.COMFYUI_URL = ""
    assert ComfyUIAdapter.is_configured() is False
    settings.COMFYUI_URL = "gpu-box:8188"
    assert ComfyUIAdapter.is_configured() is False
    settings.COMFYUI_URL = "http://gpu-box:8188"
    assert ComfyUIAdapter.is_configured() is True


def test_websocket_url_keeps_the_path_prefix_and_the_scheme():
    assert websocket_url("http://127.0.0.1:90/comfyui", "ab") == "ws://127.0.0.1:90/comfyui/ws?clientId=ab"
    assert websocket_url("https://gpu.example/comfy", "abc") == "wss://gpu.example/comfy/ws?clientId=abc"


def test_every_catalogue_route_has_a_complete_template():
    catalogue = tomllib.loads(CATALOG.read_text())
    models = {r["model"] for m in catalogue["models"] for r in m["routes"] if r["provider"] == "comfyui"}
    assert models >= {"sdxl", "flux-schnell"}
    for model in models:
        assert set(marked_nodes(load_template(model))) >= {"positive", "latent", "sampler", "output"}


def test_sdxl_template_is_filled_with_prompt_negative_seed_size_and_batch():
    template = load_template("sdxl")
    pristine = copy.deepcopy(template)
    req = make_request(width=1023, height=765, num_images=2, seed=str(2**64 - 1))
    graph, seed = build_workflow(template, req)

    assert seed == 2**64 - 1
    assert graph["6"]["inputs"] == {"text": "a lighthouse at dusk", "clip": ["4", 1]}
    assert graph["7"]["inputs"] == {"text": "blurry, text", "clip": ["4", 1]}
    assert graph["5"]["inputs"] == {"width": 1024, "height": 768, "batch_size": 2}  # an 8-pixel grid
    assert graph["3"]["inputs"]["seed"] == 18446744073709551615
    assert graph["9"]["inputs"] == {"filename_prefix": "darkroom/gen-1", "images": ["8", 0]}
    # Nothing else changes, and the template itself is left alone.
    for node_id in ("4", "8"):
        assert graph[node_id] == pristine[node_id]
    assert {k: v for k, v in graph["3"]["inputs"].items() if k != "seed"} == {
        k: v for k, v in pristine["3"]["inputs"].items() if k != "seed"
    }
    assert template == pristine


def test_flux_template_snaps_to_its_latent_grid_and_has_no_negative_prompt():
    graph, seed = build_workflow(load_template("flux-schnell"), make_request(
        provider_model="flux-schnell", negative_prompt="", width=1020, height=770, seed="7",
    ))
    assert seed == 7
    assert graph["6"]["inputs"]["text"] == "a lighthouse at dusk"
    assert graph["5"]["class_type"] == "EmptySD3LatentImage"
    assert graph["5"]["inputs"] == {"width": 1024, "height": 768, "batch_size": 1}  # a 16-pixel grid
    assert graph["3"]["inputs"]["seed"] == 7
    with pytest.raises(TemplateError):
        build_workflow(load_template("flux-schnell"), make_request(provider_model="flux-schnell"))


def test_seeds_wider_than_64_bits_wrap_and_a_missing_seed_is_drawn():
    template = load_template("sdxl")
    assert build_workflow(template, make_request(seed=str(2**64 + 5)))[1] == 5
    _, drawn = build_workflow(template, make_request(seed=None))
    assert 0 <= drawn < 2**64


def test_a_sampler_with_noise_seed_gets_the_seed_there():
    template = load_template("sdxl")
    template["3"]["class_type"] = "KSamplerAdvanced"
    template["3"]["inputs"]["noise_seed"] = template["3"]["inputs"].pop("seed")
    graph, _ = build_workflow(template, make_request(seed="99"))
    assert graph["3"]["inputs"]["noise_seed"] == 99 and "seed" not in graph["3"]["inputs"]


def test_broken_or_unknown_templates_are_refused():
    template = load_template("sdxl")
    template["3"]["_meta"]["title"] = "KSampler"
    with pytest.raises(TemplateError, match="no node titled sampler"):
        marked_nodes(template)
    template["3"]["_meta"]["title"] = "positive"
    with pytest.raises(TemplateError, match="two nodes are titled 'positive'"):
        marked_nodes(template)
    for name in ("sd3", "../sdxl", "templates/sdxl"):
        with pytest.raises(TemplateError):
            load_template(name)


def test_preview_frames_are_decoded_by_their_header():
    assert preview_from_frame(b"\x00\x00\x00\x01\x00\x00\x00\x01jpeg") == b"jpeg"
    assert preview_from_frame(b"\x00\x00\x00\x01\x00\x00\x00\x02png") == b"png"
    assert preview_from_frame(b"\x00\x00\x00\x03\x00\x00\x00\x01text") is None  # another binary event
    assert preview_from_frame(b"\x00\x00\x00\x01\x00\x00\x00\x01") is None


# ---------------------------------------------------------------- runs against the simulator


def test_success_returns_every_image_at_the_asked_size_and_sends_the_filled_graph(comfyui, adapter):
    status, _ = run(adapter, make_request(num_images=2, seed="18446744073709551615"))

    assert status.state == JobState.SUCCEEDED
    assert status.progress == 1.0 and status.predict_seconds > 0
    assert status.seed == "18446744073709551615"
    assert len(status.outputs) == 2
    for output in status.outputs:
        image = Image.open(io.BytesIO(output.content))
        assert (image.format, image.size, output.content_type) == ("PNG", (256, 192), "image/png")
    assert status.outputs[0].content != status.outputs[1].content
    sent = wait_for_history(comfyui, status.provider_job_id)
    graph = sent["prompt"][2]
    assert graph["6"]["inputs"]["text"] == "a lighthouse at dusk"
    assert graph["7"]["inputs"]["text"] == "blurry, text"
    assert graph["3"]["inputs"]["seed"] == 18446744073709551615
    assert sent["status"]["status_str"] == "success"
    assert [image["subfolder"] for image in sent["outputs"]["9"]["images"]] == ["darkroom", "darkroom"]


def test_progress_and_previews_arrive_in_order(comfyui, adapter):
    status, updates = run(adapter, make_request(provider_model="flux-schnell", negative_prompt=""))

    assert status.state == JobState.SUCCEEDED
    queued = [u for u in updates if u.state == JobState.QUEUED]
    assert updates[: len(queued)] == queued and [u.queue_position for u in queued] == [0]
    running = [(u.state, u.progress, u.preview is not None) for u in updates[len(queued):]]
    assert running == [
        (JobState.RUNNING, 0.0, False),
        (JobState.RUNNING, 0.25, False), (JobState.RUNNING, 0.25, True),
        (JobState.RUNNING, 0.5, False), (JobState.RUNNING, 0.5, True),
        (JobState.RUNNING, 0.75, False), (JobState.RUNNING, 0.75, True),
        (JobState.RUNNING, 1.0, False), (JobState.RUNNING, 1.0, True),
    ]
    preview = Image.open(io.BytesIO(next(u.preview for u in updates if u.preview)))
    assert preview.format == "JPEG" and max(preview.size) <= 128
    assert {u.provider_job_id for u in updates} == {status.provider_job_id}


def test_a_server_without_previews_still_reports_progress(comfyui, adapter):
    comfyui.knobs("comfyui", output_variant="no_previews")
    status, updates = run(adapter, make_request(provider_model="flux-schnell", negative_prompt=""))

    assert status.state == JobState.SUCCEEDED and len(status.outputs) == 1
    assert [u.progress for u in updates if u.state == JobState.RUNNING] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert not any(u.preview for u in updates)


def test_cancel_mid_run_interrupts_the_prompt_and_returns_canceled(comfyui, adapter):
    comfyui.knobs("comfyui", job_seconds=1.0)
    status, updates = run(adapter, make_request(provider_model="flux-schnell", negative_prompt=""),
                          cancel_when=lambda updates: any(u.preview for u in updates))

    assert status.state == JobState.CANCELED and status.outputs == ()
    assert [u.progress for u in updates if u.state == JobState.RUNNING] == [0.0, 0.25, 0.25]
    assert comfyui.stats()["comfyui:interrupt"] == 1
    ended = wait_for_history(comfyui, status.provider_job_id)
    assert ended["status"]["status_str"] == "error"
    assert ended["status"]["messages"][-1][0] == "execution_interrupted"
    assert ended["outputs"] == {}


def test_cancel_while_queued_deletes_the_prompt_from_the_queue(comfyui, adapter):
    comfyui.knobs("comfyui", job_seconds=1.0)
    # Someone else's prompt holds the (single) worker.
    blocker = httpx.post(f"{comfyui.url}/comfyui/prompt", timeout=2, json={
        "prompt": build_workflow(load_template("sdxl"), make_request(job_id="other"))[0],
        "client_id": "other",
    }).json()["prompt_id"]

    status, updates = run(adapter, make_request(),
                          cancel_when=lambda updates: any(u.queue_position == 1 for u in updates))

    assert status.state == JobState.CANCELED
    assert all(u.state == JobState.QUEUED for u in updates)
    stats = comfyui.stats()
    assert stats["comfyui:deleted"] == 1
    assert "comfyui:interrupt" not in stats  # nothing of ours was running
    httpx.post(f"{comfyui.url}/comfyui/interrupt", json={"prompt_id": blocker}, timeout=2)
    wait_for_history(comfyui, blocker)
    assert history(comfyui, status.provider_job_id) == {}  # never ran


def test_node_errors_are_rejected_with_the_offending_input(comfyui, adapter, tmp_path):
    template = load_template("sdxl")
    template["4"]["inputs"]["ckpt_name"] = "sd_xl_turbo.safetensors"
    (tmp_path / "sdxl.json").write_text(json.dumps(template))
    adapter.template_dir = tmp_path

    with pytest.raises(ProviderRejectedError) as raised:
        run(adapter, make_request())

    assert raised.value.extra == {
        "status": 400,
        "error": "prompt_outputs_failed_validation",
        "node_errors": {"4": [
            "ckpt_name: 'sd_xl_turbo.safetensors' not in "
            "['sd_xl_base_1.0.safetensors', 'flux1-schnell-fp8.safetensors']"
        ]},
    }
    assert "safetensors" not in raised.value.message


def test_rate_limited_is_retryable_with_retry_after(comfyui, adapter):
    comfyui.knobs("comfyui", rate_limit_rate=1.0, retry_after=3)
    with pytest.raises(ProviderRetryableError) as raised:
        run(adapter, make_request())
    assert raised.value.retry_after == 3.0
    assert raised.value.extra == {"status": 429}


@pytest.mark.parametrize("status_code", [500, 503])
def test_server_errors_are_retryable(comfyui, adapter, status_code):
    comfyui.knobs("comfyui", error_rate=1.0, error_status=status_code)
    with pytest.raises(ProviderRetryableError) as raised:
        run(adapter, make_request())
    assert raised.value.extra == {"status": status_code}
    assert raised.value.retry_after is None


def test_other_client_errors_are_rejected(comfyui, adapter):
    comfyui.knobs("comfyui", error_rate=1.0, error_status=404)
    with pytest.raises(ProviderRejectedError) as raised:
        run(adapter, make_request())
    assert raised.value.extra["status"] == 404


def test_a_forbidding_server_sends_the_job_to_the_next_route(comfyui, adapter):
    # e.g. an auth proxy in front of the GPU box, or ComfyUI refusing our origin
    comfyui.knobs("comfyui", error_rate=1.0, error_status=403)
    with pytest.raises(ProviderAccountError) as raised:
        run(adapter, make_request())
    assert raised.value.extra == {"status": 403}


def test_a_hanging_server_times_out_as_retryable(comfyui, adapter):
    # The hung request ends in a 500 once we are gone, so it never queues a prompt behind our back.
    comfyui.knobs("comfyui", timeout_rate=1.0, hang_seconds=10, error_rate=1.0)
    started = time.monotonic()
    with pytest.raises(ProviderRetryableError) as raised:
        run(adapter, make_request())
    assert time.monotonic() - started < 6  # well before the 10 s hang
    assert raised.value.extra == {"transport": "ReadTimeout"}


def test_a_server_that_is_down_is_retryable_at_once(settings, adapter):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings.COMFYUI_URL = f"http://127.0.0.1:{closed_port}/comfyui"
    started = time.monotonic()
    with pytest.raises(ProviderRetryableError) as raised:
        run(adapter, make_request())
    assert time.monotonic() - started < 6
    assert raised.value.extra == {"transport": "ConnectionRefusedError"}


def test_a_job_past_its_deadline_is_interrupted_and_retryable(comfyui, adapter):
    comfyui.knobs("comfyui", job_seconds=3.0)
    started = time.monotonic()
    with pytest.raises(ProviderRetryableError) as raised:
        run(adapter, make_request(options={"timeout_seconds": 0.3}))
    assert time.monotonic() - started < 6
    assert raised.value.extra == {"timeout": "job deadline"}
    assert comfyui.stats()["comfyui:interrupt"] == 1


def test_an_execution_error_fails_the_job_without_retrying(comfyui, adapter):
    comfyui.knobs("comfyui", fail_job_rate=1.0)
    status, updates = run(adapter, make_request(provider_model="flux-schnell", negative_prompt=""))

    assert status.state == JobState.FAILED
    assert status.error_code == "execution_error"
    assert status.error_message == (
        "KSampler: Allocation on device would exceed allowed memory. (out of memory)"
    )
    assert [u.progress for u in updates if u.state == JobState.RUNNING and not u.preview] == [0.0, 0.25, 0.5]
    assert comfyui.stats()["comfyui:POST /comfyui/prompt"] == 1


def test_blocked_words_fail_the_job_as_comfyui_has_no_safety_verdict(comfyui, adapter):
    status, _ = run(adapter, make_request(prompt="a forbidden door"))

    assert status.state == JobState.FAILED  # not BLOCKED: ComfyUI only reports a node that raised
    assert status.error_code == "execution_error"
    assert status.error_message == "KSampler: Prompt rejected by the content filter."
    assert comfyui.stats()["comfyui:POST /comfyui/prompt"] == 1


# ---------------------------------------------------------------- the simulator itself


def _without_sampler(graph):
    del graph["3"]


def _without_output(graph):
    del graph["9"]


def _without_class_type(graph):
    del graph["8"]["class_type"]


def _seed_too_wide(graph):
    graph["3"]["inputs"]["seed"] = 2**64


@pytest.mark.parametrize(("mutate", "error", "node_errors"), [
    (_without_output, "prompt_no_outputs", {}),
    (_without_class_type, "invalid_prompt", {}),
    (_without_sampler, "prompt_outputs_failed_validation", {"9": ["images: no sampler feeds this output"]}),
    (_seed_too_wide, "prompt_outputs_failed_validation", {"3": [f"seed: {2**64} > {2**64 - 1}"]}),
])
def test_the_simulator_refuses_graphs_as_comfyui_does(comfyui, mutate, error, node_errors):
    graph, _ = build_workflow(load_template("sdxl"), make_request())
    mutate(graph)
    response = httpx.post(f"{comfyui.url}/comfyui/prompt", json={"prompt": graph, "client_id": "x"},
                          timeout=2)
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["type"] == error
    details = {node: [e["details"] for e in entry["errors"]] for node, entry in body["node_errors"].items()}
    assert details == node_errors


# ---------------------------------------------------------------- through the generation service


@pytest.mark.usefixtures("catalog")
def test_sdxl_runs_on_comfyui_end_to_end_with_a_negative_prompt(comfyui, user):
    generation = services.generation_create(
        user=user, model_slug="sdxl", prompt="a harbour at dawn", negative_prompt="people", seed="123",
    )
    services.generation_run(generation_id=generation.id)

    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    assert (generation.provider, generation.route_index, generation.notes) == ("comfyui", 0, [])
    assert generation.progress == 1.0
    images = list(GenerationImage.objects.filter(generation=generation))
    assert [(image.index, image.width, image.height) for image in images] == [(0, 1024, 1024)]
    with default_storage.open(images[0].file) as original:
        assert Image.open(original).size == (1024, 1024)
    ledger = LedgerEntry.objects.filter(generation=generation).order_by("id").values_list("kind", "amount")
    assert list(ledger) == [("reserve", -2), ("capture", 0)]
    # What the GPU server ran: the negative prompt made it into the graph.
    ran = httpx.get(f"{comfyui.url}/comfyui/history", params={"max_items": 1}, timeout=2).json()
    [graph] = [entry["prompt"][2] for entry in ran.values()]
    assert graph["9"]["inputs"]["filename_prefix"] == f"darkroom/{generation.id}"
    assert (graph["6"]["inputs"]["text"], graph["7"]["inputs"]["text"]) == ("a harbour at dawn", "people")
    assert graph["3"]["inputs"]["seed"] == 123


@pytest.mark.usefixtures("catalog")
def test_a_comfyui_server_that_is_down_falls_back_to_the_next_route_and_counts_against_its_breaker(
    settings, user
):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        settings.COMFYUI_URL = f"http://127.0.0.1:{sock.getsockname()[1]}/comfyui"
    # The real sdxl chain falls back to hosted services; an offline route stands in for them here.
    CatalogModel.objects.filter(slug="sdxl").update(routes=[
        {"provider": "comfyui", "model": "sdxl", "max_images": 1, "negative_prompt": True},
        {"provider": "offline", "model": "procedural-studio-v1", "max_images": 4, "negative_prompt": True},
    ])
    generation = services.generation_create(user=user, model_slug="sdxl", prompt="a harbour", seed="1")
    services.generation_run(generation_id=generation.id)

    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    assert (generation.provider, generation.route_index) == ("offline", 1)
    assert generation.notes == [state.SLOW_NOTE]
    assert list(CircuitBreaker.objects.order_by("key").values_list("key", "consecutive_failures")) == [
        ("comfyui", 1), ("comfyui:sdxl", 1), ("offline", 0), ("offline:procedural-studio-v1", 0),
    ]
