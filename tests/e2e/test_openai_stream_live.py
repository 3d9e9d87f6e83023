"""`stream: true` in the production shape: the official `openai` client → daphne (the event stream
served asynchronously) while a Celery worker draws the image and keeps its live previews; the
partial images cross from the worker to the web process through PostgreSQL."""

import base64
import io

import openai
import pytest
from PIL import Image

from apps.accounts.services import api_key_create
from apps.generations.models import Generation
from apps.openai_compat.models import ImageStream
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.live


def test_the_openai_client_streams_partial_images_from_a_worker(live):
    user = UserFactory()
    client = openai.OpenAI(base_url=f"{live.base_url}/v1", api_key=api_key_create(user=user, name="live").secret,
                           max_retries=0, timeout=60)
    events = list(client.images.generate(model="offline-sketch", prompt="a lighthouse over a calm sea",
                                         size="1024x1024", stream=True, partial_images=3))
    assert [event.type for event in events] == ["image_generation.partial_image"] * 3 + ["image_generation.completed"]
    assert [event.partial_image_index for event in events[:3]] == [0, 1, 2]
    for partial in events[:3]:
        assert Image.open(io.BytesIO(base64.b64decode(partial.b64_json))).format == "JPEG"
    final = Image.open(io.BytesIO(base64.b64decode(events[3].b64_json)))
    assert (final.format, final.size) == ("PNG", (1024, 1024))
    generation = Generation.objects.get(owner=user)
    assert generation.status == "succeeded"
    assert not ImageStream.objects.filter(generation=generation).exists()
