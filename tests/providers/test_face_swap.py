"""Face swap through every route of the catalogue's face-swap model: Replicate's and fal's
face-swap contracts against the simulator over real HTTP (a real swapped image comes back), and
Darkroom's offline classical swap, which works with no provider keys at all."""

import io
import time

import httpx
import pytest
from PIL import Image

from apps.catalog.models import CatalogModel
from apps.credits.selectors import credits_balance_get
from apps.generations import services
from apps.generations.exceptions import InvalidGenerationError
from apps.generations.models import Generation, Status
from apps.imaging.face_swap import detect_largest_face
from apps.media.storage import file_read
from apps.providers.adapters.fal import FalQueueAdapter
from apps.providers.adapters.offline import OfflineEngineAdapter
from apps.providers.adapters.offline.face_swap import NoFaceError
from apps.providers.adapters.replicate import ReplicateAdapter
from apps.providers.fetch import fetch_output
from apps.providers.types import GenerationRequest, JobState
from tests.imaging.faces import other_face_bytes, portrait_bytes
from tests.media.factories import UploadFactory
from tests.media.images import photo_bytes
from tests.providers.conftest import poll_until_done, run_blocking

REPLICATE_ROUTE = {"version": "278a81e7ebb22db98bcba54de985d22cc1abeead2754eb1f2af717247be69b34",
                   "accepts_image": True, "task": "face-swap"}
FAL_ROUTE = {"accepts_image": True, "task": "face-swap"}
TARGET_SIZE = (480, 400)


def target_bytes() -> bytes:
    return portrait_bytes(width=TARGET_SIZE[0], height=TARGET_SIZE[1], centre=(240, 200), scale=0.85)


def make_request(*, model: str, options: dict, image: bytes | None = None, face: bytes | None = None):
    return GenerationRequest(
        job_id="gen-1", provider_model=model, prompt="Face Swap", width=TARGET_SIZE[0], height=TARGET_SIZE[1],
        options=options, image=image if image is not None else target_bytes(),
        references=(face if face is not None else other_face_bytes(),),
    )


def open_image(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


def assert_swapped(content: bytes) -> None:
    """A real image the size of the photo, not the photo itself, still showing a face."""
    result, original = open_image(content), open_image(target_bytes())
    assert result.size == TARGET_SIZE
    assert result.convert("RGB").tobytes() != original.convert("RGB").tobytes()
    assert detect_largest_face(result) is not None


def test_the_test_photos_show_faces_the_detector_finds():
    assert detect_largest_face(open_image(target_bytes())) is not None
    assert detect_largest_face(open_image(other_face_bytes())) is not None
    assert detect_largest_face(open_image(photo_bytes(320, 240))) is None


# ---------------------------------------------------------------- offline


def test_the_offline_route_swaps_with_no_network():
    status, updates = run_blocking(OfflineEngineAdapter(), make_request(model="face-swap-classical-v1", options={}))
    assert status.state == JobState.SUCCEEDED and updates and updates[0].progress < 1
    assert_swapped(status.outputs[0].content)


@pytest.mark.parametrize(("image", "face", "which"), [
    (photo_bytes(320, 240), None, "photo"), (None, photo_bytes(320, 240), "face photo"),
])
def test_the_offline_route_refuses_a_photo_without_a_face(image, face, which):
    with pytest.raises(NoFaceError) as caught:
        run_blocking(OfflineEngineAdapter(), make_request(model="face-swap-classical-v1", options={},
                                                          image=image, face=face))
    assert caught.value.code == "no_face"
    assert caught.value.message.startswith(f"No face found in the {which}.")


# ---------------------------------------------------------------- Replicate and fal over HTTP


def run_job(adapter, request, *, seconds: float = 10.0):
    status = adapter.submit(request)
    deadline = time.monotonic() + seconds
    while not status.state.is_terminal:
        assert time.monotonic() < deadline, f"still {status.state}"
        time.sleep(0.05)
        status = adapter.poll(status.provider_job_id)
    return status


@pytest.fixture
def sim(simulator):
    simulator.knobs("replicate", job_seconds=0.2)
    simulator.knobs("fal", job_seconds=0.2)
    return simulator


def test_replicate_gets_both_photos_as_its_face_swap_inputs_and_answers_the_swap(sim):
    status = run_job(ReplicateAdapter(), make_request(model="codeplugtech/face-swap", options=REPLICATE_ROUTE))
    assert status.state == JobState.SUCCEEDED and len(status.outputs) == 1
    prediction = httpx.get(f"{sim.url}/replicate/v1/predictions/{status.provider_job_id}",
                           headers={"Authorization": "Bearer r8_simulated"}, timeout=5).json()
    assert set(prediction["input"]) == {"input_image", "swap_image"}
    assert prediction["input"]["input_image"].startswith("data:image/png;base64,")
    assert sim.stats().get("replicate:POST /replicate/v1/predictions") == 1  # the versioned route
    assert_swapped(fetch_output(status.outputs[0].url)[0])


def test_replicate_fails_the_prediction_when_the_face_photo_has_no_face(sim):
    request = make_request(model="codeplugtech/face-swap", options=REPLICATE_ROUTE, face=photo_bytes(320, 240))
    status = run_job(ReplicateAdapter(), request)
    assert (status.state, status.error_code) == (JobState.FAILED, "no_face")
    assert "swap image" in status.error_message


def test_fal_gets_base_and_swap_image_urls_and_answers_one_image(sim):
    status = run_job(FalQueueAdapter(), make_request(model="fal-ai/face-swap", options=FAL_ROUTE))
    assert status.state == JobState.SUCCEEDED and len(status.outputs) == 1
    assert sim.stats().get("fal:POST /fal/fal-ai/face-swap") == 1
    assert_swapped(fetch_output(status.outputs[0].url)[0])


def test_fal_reports_a_photo_without_a_face_as_a_failed_job(sim):
    request = make_request(model="fal-ai/face-swap", options=FAL_ROUTE, image=photo_bytes(320, 240))
    status = run_job(FalQueueAdapter(), request)
    assert (status.state, status.error_code) == (JobState.FAILED, "no_face")


def test_the_simulators_refuse_face_swap_inputs_that_are_not_images(sim):
    body = {"version": REPLICATE_ROUTE["version"], "input": {"input_image": "not a uri", "swap_image": "x"}}
    answer = httpx.post(f"{sim.url}/replicate/v1/predictions", json=body, timeout=5,
                        headers={"Authorization": "Bearer r8_simulated"})
    assert answer.status_code == 422 and {f["field"] for f in answer.json()["invalid_fields"]} == {
        "input.input_image", "input.swap_image"}
    answer = httpx.post(f"{sim.url}/fal/fal-ai/face-swap", json={"base_image_url": "data:image/png;base64,AAAA"},
                        headers={"Authorization": "Key simulated:key"}, timeout=5)
    assert answer.status_code == 422


# ---------------------------------------------------------------- the catalogue model, end to end


@pytest.fixture
def photos(user):
    return (UploadFactory(owner=user, content=target_bytes(), width=TARGET_SIZE[0], height=TARGET_SIZE[1]),
            UploadFactory(owner=user, content=other_face_bytes(), width=360, height=360))


def swap(user, photos, capture) -> Generation:
    """Create the generation; its run starts at commit; a hosted job is then polled to its end."""
    target, face = photos
    with capture(execute=True):
        generation = services.generation_create(user=user, model_slug="face-swap", prompt="",
                                                image_upload_id=target.pk, reference_upload_ids=[face.pk])
    generation.refresh_from_db()
    if generation.is_active and generation.provider_job_id:
        poll_until_done(generation.id)
        generation.refresh_from_db()
    return generation


def test_with_no_provider_keys_the_model_runs_offline(catalog, user, photos, django_capture_on_commit_callbacks):
    generation = swap(user, photos, django_capture_on_commit_callbacks)
    assert (generation.status, generation.provider, generation.quoted_credits) == (Status.SUCCEEDED, "offline", 2)
    image = generation.images.get()
    assert (image.width, image.height) == TARGET_SIZE
    assert_swapped(file_read(image.file))
    assert credits_balance_get(user=user) == 98


def test_with_keys_the_hosted_route_runs_first(sim, catalog, user, photos, scheduled_polls,
                                                django_capture_on_commit_callbacks):
    generation = swap(user, photos, django_capture_on_commit_callbacks)
    assert (generation.status, generation.provider) == (Status.SUCCEEDED, "replicate"), generation.error_message
    assert_swapped(file_read(generation.images.get().file))


def test_a_face_photo_without_a_face_is_a_clear_refusal_and_costs_nothing(catalog, user,
                                                                           django_capture_on_commit_callbacks):
    target = UploadFactory(owner=user, content=target_bytes(), width=TARGET_SIZE[0], height=TARGET_SIZE[1])
    faceless = UploadFactory(owner=user)
    generation = swap(user, (target, faceless), django_capture_on_commit_callbacks)
    assert (generation.status, generation.error_code) == (Status.FAILED, "no_face")
    assert generation.error_message.startswith("No face found in the face photo.")
    assert credits_balance_get(user=user) == 100


def test_the_model_needs_exactly_one_face_photo(catalog, user, photos):
    with pytest.raises(InvalidGenerationError, match="photo of the face"):
        services.generation_create(user=user, model_slug="face-swap", prompt="", image_upload_id=photos[0].pk)
    assert CatalogModel.objects.get(slug="face-swap").needs_image


def test_a_hosted_route_that_finds_no_face_says_which_photo_and_costs_nothing(
        sim, catalog, user, scheduled_polls, django_capture_on_commit_callbacks):
    target = UploadFactory(owner=user, content=target_bytes(), width=TARGET_SIZE[0], height=TARGET_SIZE[1])
    generation = swap(user, (target, UploadFactory(owner=user)), django_capture_on_commit_callbacks)
    assert (generation.status, generation.provider, generation.error_code) == (Status.FAILED, "replicate", "no_face")
    assert generation.error_message.startswith("No face found in the face photo.")
    assert credits_balance_get(user=user) == 100


def test_the_api_swaps_a_face_and_refuses_a_missing_face_photo_with_a_4xx(
        catalog, user, photos, django_capture_on_commit_callbacks):
    from apps.accounts.services import api_key_create
    from tests.apiclient import ApiClient

    api = ApiClient(api_key_create(user=user, name="tests").secret)
    target, face = photos
    refused = api.post("/generations", {"model": "face-swap", "prompt": "", "image_upload_id": str(target.pk)})
    assert refused.status_code == 422
    assert refused.json()["detail"] == "Choose the photo of the face to use." and refused.json()["code"]
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/generations", {"model": "face-swap", "prompt": "", "image_upload_id": str(target.pk),
                                            "reference_upload_ids": [str(face.pk)]})
    assert created.status_code == 201, created.json()
    generation = Generation.objects.get(pk=created.json()["id"])
    assert (generation.status, generation.provider) == (Status.SUCCEEDED, "offline")
