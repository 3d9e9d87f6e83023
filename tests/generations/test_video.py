"""Video outputs: real clips decoded before they are kept (and refused when damaged, too long or
too big), the offline motion engine's H.264 MP4s, the API's and the pages' view of them."""

import io
import json
import re

import av
import pytest
from django.test import Client
from PIL import Image

from apps.accounts.services import api_key_create
from apps.credits.selectors import credits_balance_get
from apps.generations import services, storage
from apps.generations.exceptions import InvalidGenerationError
from apps.generations.models import Generation, GenerationImage, Status
from apps.imaging import video
from apps.media.storage import file_read
from apps.providers.adapters.offline import motion
from apps.providers.types import ProviderOutput
from tests.media.factories import UploadFactory
from tests.media.images import photo_bytes

pytestmark = pytest.mark.usefixtures("catalog")


def picture(width=480, height=360) -> Image.Image:
    return Image.open(io.BytesIO(photo_bytes(width, height, "PNG"))).convert("RGB")


@pytest.fixture(scope="module")
def clip() -> bytes:
    """A real 2 s, 320×240 H.264 MP4 from the motion engine."""
    return motion.encode_mp4(picture(), width=320, height=240, seconds=2, fps=24, seed=5)


def decoded_frames(content: bytes) -> list[Image.Image]:
    with av.open(io.BytesIO(content)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def run(generation: Generation) -> Generation:
    services.generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    return generation


@pytest.fixture
def photo(user):
    return UploadFactory(owner=user, width=480, height=270)


# ---------------------------------------------------------------- the offline motion engine


def test_the_engine_makes_a_decodable_h264_mp4_of_the_asked_length_and_size():
    content = motion.encode_mp4(picture(640, 480), width=1280, height=720, seconds=4, fps=24, seed=3)
    info = video.video_validate(content)
    assert (info.codec, info.width, info.height, info.frames, info.duration_seconds) == ("h264", 1280, 720, 96, 4.0)
    # Fast start: the index comes before the media, so a browser can play while it downloads.
    assert content.index(b"moov") < content.index(b"mdat")
    frames = decoded_frames(content)
    assert frames[0].tobytes() != frames[48].tobytes()  # the camera moves


def test_the_engine_is_deterministic_and_the_seed_changes_the_path():
    photo = picture()
    first = motion.encode_mp4(photo, width=320, height=240, seconds=1, fps=24, seed=9)
    # Other work in between (another size, a decode) must not leak into the next clip's bytes.
    video.video_validate(motion.encode_mp4(photo, width=640, height=360, seconds=2, fps=24, seed=2))
    assert motion.encode_mp4(photo, width=320, height=240, seconds=1, fps=24, seed=9) == first
    assert motion.encode_mp4(photo, width=320, height=240, seconds=1, fps=24, seed=10) != first


def test_progress_is_reported_per_batch_of_frames_and_cancel_stops_the_encode():
    seen = []
    motion.encode_mp4(picture(), width=320, height=240, seconds=2, fps=24, seed=1,
                      on_batch=lambda done, total, frame: seen.append((done, total, frame.size)))
    assert seen == [(12 * k, 48, (320, 240)) for k in range(1, 5)]
    assert motion.encode_mp4(picture(), width=320, height=240, seconds=2, fps=24, seed=1,
                             on_batch=lambda *args: False) is None


# ---------------------------------------------------------------- generations with video outputs


def test_a_photo_becomes_a_stored_clip_with_a_poster_charged_per_second(user, photo):
    generation = run(services.generation_create(
        user=user, model_slug="offline-motion", prompt="", image_upload_id=photo.id, duration_seconds=4, seed=2,
    ))
    assert generation.status == Status.SUCCEEDED, generation.error_message
    # 16:9 photo → the 16:9 ratio at the 720p tier; 1 credit a second × 4 s.
    assert (generation.width, generation.height, generation.params["duration_seconds"]) == (1280, 720, 4)
    assert (generation.quoted_credits, credits_balance_get(user=user)) == (4, 96)
    clip = generation.images.get()
    assert (clip.content_type, clip.duration_seconds, clip.width, clip.height) == ("video/mp4", 4.0, 1280, 720)
    assert clip.file.endswith("/0.mp4") and clip.is_video and clip.blurhash
    content = file_read(clip.file)
    assert len(content) == clip.size_bytes and video.video_validate(content).frames == 96
    poster = Image.open(io.BytesIO(file_read(clip.thumbnail)))
    assert (poster.format, max(poster.size)) == ("WEBP", 512)


def test_the_model_offers_only_its_lengths_and_images_take_none(user, photo):
    with pytest.raises(InvalidGenerationError, match="clips of 2 or 4 seconds") as raised:
        services.generation_create(user=user, model_slug="offline-motion", prompt="", image_upload_id=photo.id,
                                   duration_seconds=3)
    assert raised.value.extra == {"field": "duration_seconds"}
    with pytest.raises(InvalidGenerationError, match="starts from a photo"):
        services.generation_create(user=user, model_slug="offline-motion", prompt="a river")
    with pytest.raises(InvalidGenerationError, match="not clips"):
        services.generation_create(user=user, model_slug="offline-sketch", prompt="a river", duration_seconds=4)
    assert credits_balance_get(user=user) == 100


def _pending_video_generation(user, photo) -> Generation:
    return services.generation_create(user=user, model_slug="offline-motion", prompt="", seed=1,
                                      image_upload_id=photo.id, duration_seconds=2)


def test_outputs_of_the_wrong_kind_or_length_are_refused(user, photo, clip):
    generation = _pending_video_generation(user, photo)
    generation.params.update(width=320, height=240)
    with pytest.raises(storage.InvalidOutputError, match="not an MP4 or WebM"):
        storage.generation_outputs_store(generation=generation, outputs=(ProviderOutput(content=photo_bytes(320, 240, "PNG")),))
    with pytest.raises(storage.InvalidOutputError, match="does not decode: video_corrupt"):
        storage.generation_outputs_store(generation=generation, outputs=(ProviderOutput(content=clip[: len(clip) // 2]),))
    generation.params["duration_seconds"] = 4
    with pytest.raises(storage.InvalidOutputError, match="2 s long, expected 4 s"):
        storage.generation_outputs_store(generation=generation, outputs=(ProviderOutput(content=clip),))
    image_generation = services.generation_create(user=user, model_slug="offline-sketch", prompt="a river")
    with pytest.raises(storage.InvalidOutputError, match="is a video, expected an image"):
        storage.generation_outputs_store(generation=image_generation, outputs=(ProviderOutput(content=clip),))
    assert not GenerationImage.objects.exists()


def test_a_route_that_returns_a_broken_clip_fails_the_job_uncharged(user, photo, monkeypatch, clip):
    from apps.providers.adapters.offline import adapter

    monkeypatch.setattr(adapter.motion, "encode_mp4", lambda *args, **kwargs: clip[: len(clip) // 3])
    generation = run(_pending_video_generation(user, photo))
    assert (generation.status, generation.error_code) == (Status.FAILED, "invalid_output")
    assert credits_balance_get(user=user) == 100


# ---------------------------------------------------------------- API and pages


def test_the_api_takes_a_duration_and_answers_with_the_clip(user, photo):
    client = Client()
    headers = {"Authorization": f"Bearer {api_key_create(user=user, name='t').secret}"}
    body = {"model": "offline-motion", "prompt": "", "image_upload_id": str(photo.id), "duration_seconds": 2, "seed": 4}
    response = client.post("/api/v1/generations", json.dumps(body), content_type="application/json", headers=headers)
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["duration_seconds"], created["quoted_credits"], created["images"]) == (2, 2, [])
    run(Generation.objects.get(pk=created["id"]))
    done = client.get(f"/api/v1/generations/{created['id']}", headers=headers).json()
    [clip] = done["images"]
    assert (done["status"], clip["content_type"], clip["duration_seconds"]) == ("succeeded", "video/mp4", 2.0)
    assert (clip["width"], clip["height"]) == (1280, 720)
    downloaded = client.get(clip["url"].removeprefix("http://testserver"))
    assert downloaded.status_code == 200 and downloaded["Content-Type"] == "video/mp4"
    assert video.video_validate(b"".join(downloaded.streaming_content)).frames == 48
    # Players seek with byte ranges.
    part = client.get(clip["url"].removeprefix("http://testserver"), headers={"Range": "bytes=0-99"})
    assert (part.status_code, len(part.content), part["Content-Range"].split("/")[0]) == (206, 100, "bytes 0-99")

    bad = dict(body, duration_seconds=3)
    refused = client.post("/api/v1/generations", json.dumps(bad), content_type="application/json", headers=headers)
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_request" and "2 or 4 seconds" in refused.json()["detail"]


def test_the_detail_page_plays_the_clip_and_cards_say_video(user, photo):
    generation = run(_pending_video_generation(user, photo))
    browser = Client()
    browser.force_login(user)
    page = browser.get(f"/generations/{generation.id}/").content.decode()
    player = re.search(r"<video [^>]*>", page).group(0)
    assert 'controls' in player and 'preload="metadata"' in player and 'poster="/files/' in player
    assert re.search(r'<source src="/files/[^"]+" type="video/mp4">', page)
    assert "Video — 1280×720 MP4, 2 s" in page
    cards = browser.get("/images/").content.decode()
    assert "video · 2 s" in cards and "<video" not in cards


def test_the_model_describes_its_clip_lengths_in_the_api(user):
    client = Client()
    headers = {"Authorization": f"Bearer {api_key_create(user=user, name='t').secret}"}
    model = client.get("/api/v1/models/offline-motion", headers=headers).json()
    assert (model["kind"], model["available"], model["capabilities"]) == ("video", True, ["image-to-video"])
    parameters = model["parameters"]
    assert parameters["required"] == ["model", "image_upload_id"]
    assert parameters["properties"]["duration_seconds"]["enum"] == [2, 4]
    quote = client.get("/api/v1/quote", {"model": "offline-motion", "duration_seconds": 4}, headers=headers).json()
    assert (quote["credits"], quote["duration_seconds"]) == (4, 4)
    assert client.get("/api/v1/quote", {"model": "offline-motion"}, headers=headers).json()["duration_seconds"] == 2


def test_the_engine_reports_progress_with_preview_frames_and_stops_when_canceled():
    from apps.providers.adapters.offline import OfflineEngineAdapter
    from apps.providers.types import GenerationRequest, JobState

    photo = io.BytesIO()
    picture().save(photo, format="PNG")
    request = GenerationRequest(job_id="g", provider_model="motion-kenburns-v1", prompt="", width=320, height=240,
                                seed="4", image=photo.getvalue(), duration_seconds=2)
    seen = []
    status = OfflineEngineAdapter().run(request, on_progress=seen.append, is_canceled=lambda: False)
    assert status.state == JobState.SUCCEEDED and status.outputs[0].content_type == "video/mp4"
    assert [round(s.progress, 4) for s in seen] == [round(0.95 * k / 4, 4) for k in (1, 2, 3)]
    assert all(Image.open(io.BytesIO(s.preview)).format == "JPEG" for s in seen)
    canceled = OfflineEngineAdapter().run(request, on_progress=seen.append, is_canceled=lambda: True)
    assert (canceled.state, canceled.outputs) == (JobState.CANCELED, ())
