"""Every hosted route in the catalogue, against the simulator over real HTTP: the request its
adapter builds from the route's options is checked by the simulated provider against that model's
published schema (devtools/simulator/contracts.py — a wrong input name or length form is a 422 and
fails here), and the answer, in the provider's output shape (fal's `images`/`image`/`video` files,
Replicate's URL string or list, OpenAI's base64, Stability's bytes), is parsed and downloaded.

Face-swap routes are covered the same way, with real faces, in test_face_swap.py."""

import io
import json
import time
import tomllib

import pytest
from django.conf import settings
from PIL import Image

from apps.catalog.models import dimensions_for
from apps.catalog.pricing import tiers_priced
from apps.providers.fetch import fetch_output
from apps.providers.registry import adapter_registry
from apps.providers.router import route_request
from apps.providers.types import GenerationRequest, JobState, Route
from devtools.simulator import contracts

HOSTED = ("replicate", "fal", "openai", "stability")
CONTRACTS = {"fal": contracts.FAL, "replicate": contracts.REPLICATE}
PHOTO_SIZE = (96, 64)


def _hosted_routes():
    entries = tomllib.loads(settings.CATALOG_FILE.read_text())["models"]
    for entry in entries:
        for route in entry["routes"]:
            if route["provider"] in HOSTED and route.get("task") != "face-swap":
                yield pytest.param(entry, route, id=f"{entry['slug']}-{route['provider']}")


def _png(size=PHOTO_SIZE, colour=(200, 60, 40), mode="RGB") -> bytes:
    image = Image.new(mode, size, colour)
    if mode == "RGB":
        image.paste((30, 90, 200), (size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _request(entry: dict, route: dict) -> GenerationRequest:
    capabilities = entry.get("capabilities", ["text-to-image"])
    tier = entry["tiers"][0]
    ratio = entry.get("aspect_ratios", ["1:1"])[0]
    width, height = dimensions_for(aspect_ratio=ratio, area=tier["area"] or PHOTO_SIZE[0] * PHOTO_SIZE[1])
    fields: dict = {}
    if set(capabilities) & {"image-to-image", "inpaint", "upscale", "remove-background", "image-to-video"}:
        fields["image"] = _png()
        width, height = PHOTO_SIZE
    if "upscale" in capabilities:
        width, height = PHOTO_SIZE[0] * tier["scale"], PHOTO_SIZE[1] * tier["scale"]
    if "inpaint" in capabilities:
        fields["mask"] = _png(colour=255, mode="L")
    if entry.get("kind") == "video":
        fields["duration_seconds"] = tier["durations"][0]
    base = GenerationRequest(job_id="g-1", provider_model="", prompt="a red mug on a desk, make it blue",
                             width=width, height=height, aspect_ratio=ratio, seed="7", **fields)
    options = {k: v for k, v in route.items() if k not in ("provider", "model")}
    request, _ = route_request(base, Route(provider=route["provider"], model=route["model"], options=options))
    return request


def _run(provider: str, request: GenerationRequest):
    adapter = adapter_registry.get(provider)()
    if adapter.blocking:
        return adapter.run(request, on_progress=lambda status: None, is_canceled=lambda: False)
    status = adapter.submit(request)
    for _ in range(400):
        if status.state.is_terminal:
            return status
        time.sleep(0.05)
        status = adapter.poll(status.provider_job_id)
    pytest.fail("the job never finished")


def _logged_input(simulator, provider: str, model: str) -> dict:
    prefix = f"{provider}:input {model} "
    entries = [entry[len(prefix):] for entry in simulator.state()["log"] if entry.startswith(prefix)]
    assert len(entries) == 1, entries
    return json.loads(entries[0])


@pytest.mark.parametrize(("entry", "route"), list(_hosted_routes()))
def test_every_hosted_route_speaks_its_provider_contract(simulator, entry, route):
    for vendor in HOSTED:
        simulator.knobs(vendor, job_seconds=0.05)
    request = _request(entry, route)
    status = _run(route["provider"], request)
    assert status.state == JobState.SUCCEEDED, (status.error_code, status.error_message)
    assert len(status.outputs) == 1
    output = status.outputs[0]
    content, content_type = (
        (output.content, output.content_type) if output.content is not None
        else fetch_output(output.url, provider=route["provider"])
    )
    capabilities = entry.get("capabilities", ["text-to-image"])
    if entry.get("kind") == "video":
        assert content_type == output.content_type == "video/mp4"
        assert content[4:8] == b"ftyp"
    else:
        assert content_type.startswith("image/")
        image = Image.open(io.BytesIO(content))
        if "upscale" in capabilities:
            assert image.size == (request.width, request.height)
        elif "remove-background" in capabilities:
            assert (image.size, image.mode) == (PHOTO_SIZE, "RGBA")
        elif route.get("task"):  # an edit keeps the photo's size (OpenAI's answer at its own sizes)
            assert image.size == PHOTO_SIZE
    contract = CONTRACTS.get(route["provider"], {}).get(route["model"])
    if route.get("task") and route["model"] not in contracts.VENDOR_HANDLED:
        # Every task route's model has a published contract the simulator checked it against.
        assert contract is not None and contract.task == route["task"]
        sent = _logged_input(simulator, route["provider"], route["model"])
        if contract.image:
            photo = sent[contract.image]
            assert photo == (["data:image/png"] if contract.image_list else "data:image/png")
        if contract.mask:
            assert sent[contract.mask] == "data:image/png"
        if contract.scale:
            assert sent[contract.scale] == request.width // PHOTO_SIZE[0]
        if contract.duration:
            assert sent[contract.duration] in contract.durations
            assert int(str(sent[contract.duration]).rstrip("s")) == request.duration_seconds
        assert ("prompt" in sent) is contract.prompt
        assert not set(sent) & {"cost", "task", "video", "accepts_image"}  # routing options stay home


def test_the_catalogue_offers_at_least_fifty_models_each_with_a_priced_tier():
    entries = tomllib.loads(settings.CATALOG_FILE.read_text())["models"]
    assert len(entries) >= 50
    assert all(tier["price"] > 0 for entry in entries for tier in tiers_priced(entry["routes"], entry["tiers"]))
    hosted_routes = [route for entry in entries for route in entry["routes"] if route["provider"] in HOSTED]
    # The wider catalogue's routes all carry their provider cost.
    assert sum("cost" in route for route in hosted_routes) >= 70
