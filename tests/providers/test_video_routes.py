"""A hosted image-to-video model (Kling on Replicate) against the simulated Replicate API: the photo
goes as the start image, the clip comes back as a real MP4 that is decoded before it is kept."""

import pytest

from apps.credits.selectors import credits_balance_get
from apps.generations import services
from apps.generations.exceptions import InvalidGenerationError
from apps.generations.models import Status
from apps.imaging import video
from apps.media.storage import file_read
from apps.providers.adapters.replicate import payloads
from apps.providers.exceptions import ProviderRejectedError
from apps.providers.types import GenerationRequest
from tests.media.factories import UploadFactory
from tests.providers.conftest import poll_until_done

KLING = "kwaivgi/kling-v2.1"
ROUTE = f"replicate:POST /replicate/v1/models/{KLING}/predictions"


@pytest.fixture
def sim(simulator):
    simulator.knobs("replicate", job_seconds=0.2)
    return simulator


def test_the_photo_is_sent_as_the_start_image_with_the_length():
    options = {"task": "image-to-video", "accepts_image": True}
    request = GenerationRequest(job_id="g", provider_model=KLING, prompt="waves roll in", width=1280, height=720,
                                image=b"\x89PNG\r\n\x1a\n...", duration_seconds=10, options=options)
    inputs = payloads.prediction_input(request)
    assert (inputs["prompt"], inputs["duration"]) == ("waves roll in", 10)
    assert inputs["start_image"].startswith("data:image/png;base64,")
    with pytest.raises(ProviderRejectedError):
        payloads.prediction_input(GenerationRequest(job_id="g", provider_model=KLING, prompt="", width=1, height=1,
                                                    options=options))


def test_kling_animates_a_photo_end_to_end(sim, catalog, user, scheduled_polls):
    photo = UploadFactory(owner=user, width=640, height=360)
    generation = services.generation_create(user=user, model_slug="kling-video", prompt="waves roll in",
                                            image_upload_id=photo.id, duration_seconds=5)
    assert (generation.quoted_credits, generation.params["duration_seconds"]) == (50, 5)
    services.generation_run(generation_id=generation.id)
    poll_until_done(generation.id, attempts=1200)
    generation.refresh_from_db()
    assert (generation.status, generation.provider) == (Status.SUCCEEDED, "replicate"), generation.error_message
    clip = generation.images.get()
    assert (clip.content_type, clip.duration_seconds, clip.width, clip.height) == ("video/mp4", 5.0, 640, 360)
    assert video.video_validate(file_read(clip.file)).frames == 120
    assert credits_balance_get(user=user) == 50
    assert sim.stats()[ROUTE] == 1


def test_a_length_the_model_does_not_make_is_refused_before_anything_is_sent(sim, catalog, user):
    photo = UploadFactory(owner=user, width=640, height=360)
    with pytest.raises(InvalidGenerationError, match="clips of 5 or 10 seconds"):
        services.generation_create(user=user, model_slug="kling-video", prompt="", image_upload_id=photo.id,
                                   duration_seconds=4)
    assert ROUTE not in sim.stats()
