"""`stream: true` through the official `openai` client against a live test server: partial images
from the generation's live previews, then the image; a failure midway ends with an `error` event."""

import base64
import io

import openai
import pytest
from PIL import Image, ImageFilter, ImageStat

from apps.accounts.services import api_key_create
from apps.credits.selectors import credits_balance_get
from apps.generations.models import Generation
from apps.media.storage import file_read
from apps.openai_compat.models import ImageStream
from tests.media.images import photo_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalog")]


@pytest.fixture
def client(live_server, user):
    secret = api_key_create(user=user, name="openai").secret
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=secret, max_retries=0, timeout=60)


def decoded(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def sharpness(image: Image.Image) -> float:
    return ImageStat.Stat(image.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0]


def test_stream_sends_partial_images_blurred_to_sharp_then_the_image(client, user, settings):
    settings.OFFLINE_ENGINE_STEPS = 6  # previews at 1/6 … 5/6: partials are the first at 1/3 and at 2/3
    events = list(client.images.generate(model="offline-sketch", prompt="a lighthouse at dusk", size="1024x1024",
                                         stream=True, partial_images=2))
    assert [event.type for event in events] == [
        "image_generation.partial_image", "image_generation.partial_image", "image_generation.completed",
    ]
    first, second, completed = events
    assert [first.partial_image_index, second.partial_image_index] == [0, 1]
    partials = [decoded(first.b64_json), decoded(second.b64_json)]
    assert [(p.format, max(p.size)) for p in partials] == [("JPEG", 256), ("JPEG", 256)]
    assert sharpness(partials[0]) < sharpness(partials[1])  # the later preview is less blurred
    assert (first.size, first.output_format, first.quality, first.background) == ("1024x1024", "jpeg", "auto", "auto")
    generation = Generation.objects.get()
    image = generation.images.get()
    assert base64.b64decode(completed.b64_json) == file_read(image.file)
    assert (decoded(completed.b64_json).size, completed.size, completed.output_format) == ((1024, 1024), "1024x1024",
                                                                                            "png")
    assert completed.usage.input_tokens == completed.usage.total_tokens == 5  # "a lighthouse at dusk": 20 chars
    assert generation.status == "succeeded" and credits_balance_get(user=user) == 98
    assert not ImageStream.objects.exists()  # the stream's row goes with the stream


def test_partial_images_zero_streams_only_the_images(client):
    events = list(client.images.generate(model="offline-sketch", prompt="two kites", n=2, stream=True,
                                         partial_images=0))
    assert [event.type for event in events] == ["image_generation.completed"] * 2
    stored = [file_read(image.file) for image in Generation.objects.get().images.order_by("index")]
    assert [base64.b64decode(event.b64_json) for event in events] == stored


def test_a_failure_midway_ends_the_stream_with_an_openai_error_event(client, user, settings):
    settings.OFFLINE_ENGINE_FAILURE_RATE = 1.0  # fails halfway through its 4 steps, after two previews
    stream = client.images.generate(model="offline-sketch", prompt="a storm", stream=True, partial_images=3)
    received = []
    with pytest.raises(openai.APIError) as failed:
        for event in stream:
            received.append(event.type)
    assert received == ["image_generation.partial_image"] * 2
    generation = Generation.objects.get()
    assert failed.value.body == {"message": generation.error_message, "type": "server_error", "param": None,
                                 "code": generation.error_code}
    assert generation.status == "failed" and credits_balance_get(user=user) == 100  # not charged


def test_refusals_before_the_stream_are_plain_openai_errors(client):
    with pytest.raises(openai.BadRequestError) as too_many:
        client.images.generate(model="offline-sketch", prompt="x", stream=True, partial_images=4)
    assert (too_many.value.status_code, too_many.value.param) == (400, "partial_images")
    with pytest.raises(openai.BadRequestError) as bad_size:
        client.images.generate(model="offline-sketch", prompt="x", stream=True, size="huge")
    assert (bad_size.value.code, bad_size.value.param) == ("invalid_value", "size")
    assert not Generation.objects.exists() and not ImageStream.objects.exists()


def test_an_edit_streams_as_image_edit_events(client):
    events = list(client.images.edit(model="offline-edit", image=("photo.png", photo_bytes(320, 240), "image/png"),
                                     prompt="a red balloon", stream=True, partial_images=1))
    assert [event.type for event in events] == ["image_edit.partial_image", "image_edit.completed"]
    assert decoded(events[0].b64_json).format == "JPEG"
    assert base64.b64decode(events[1].b64_json) == file_read(Generation.objects.get().images.get().file)
