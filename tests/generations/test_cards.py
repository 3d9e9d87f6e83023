"""What a generation's card says is true: the wait the user had, and the size of the delivered files."""

import asyncio
import json
import re
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client
from django.utils import timezone

from apps.accounts.services import api_key_create
from apps.generations import services
from apps.generations.models import Generation, Status
from apps.generations.services import dispatch
from apps.generations.services.state import SLOW_NOTE, generation_add_note
from apps.providers.router import NEGATIVE_PROMPT_DROPPED
from apps.providers.types import JobState, ProviderOutput, ProviderStatus
from apps.realtime.groups import user_group
from tests.generations.factories import GenerationFactory
from tests.media.factories import UploadFactory
from tests.media.images import photo_bytes

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def card(page: str, generation) -> str:
    """The card of `generation` in a page."""
    return re.search(rf'<article id="gen-{generation.id}".*?</article>', page, re.DOTALL).group(0)


def meta(html: str) -> str:
    return re.search(r'<p class="meta">(.*?)</p>', html).group(1)


def deliver(generation, *outputs: bytes) -> Generation:
    """The provider answers with these files, as a worker would apply them."""
    services.generation_claim(generation.id)
    route = generation.catalog_model.route_list[0]
    dispatch.generation_mark_running(generation.id, route_index=0, route=route)
    services.generation_apply_result(
        generation_id=generation.id,
        status=ProviderStatus(JobState.SUCCEEDED, outputs=tuple(ProviderOutput(content=o) for o in outputs),
                              predict_seconds=8.1),
    )
    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    return generation


def test_a_finished_card_shows_the_users_wait_and_drops_the_slow_note(browser, user):
    generation = GenerationFactory(owner=user)
    generation_add_note(generation.id, SLOW_NOTE)
    generation_add_note(generation.id, NEGATIVE_PROMPT_DROPPED)
    # While it runs the card says so.
    running = browser.get(f"/generations/{generation.id}/card/").content.decode()
    assert f'<p class="note">{SLOW_NOTE}</p>' in running and "Done" not in running
    generation = deliver(generation, photo_bytes(generation.width, generation.height))
    # Submitted 42.5 s before the result; the provider reports 8.1 s of its own.
    Generation.objects.filter(pk=generation.pk).update(
        finished_at=generation.created_at + timedelta(seconds=42.5), updated_at=timezone.now()
    )
    detail = browser.get(f"/generations/{generation.id}/").content.decode()
    for page in (detail, browser.get(f"/generations/{generation.id}/card/").content.decode(),
                 browser.get("/images/").content.decode()):
        shown = card(page, generation)
        assert '<p class="status-text ok" title="Generating took 8.1 s of it">Done in 42.5 s</p>' in shown
        assert SLOW_NOTE not in shown
        # A note that still matters after the end stays.
        assert f'<p class="note">{NEGATIVE_PROMPT_DROPPED}</p>' in shown
    assert ("<dt>Time</dt><dd>42.5&nbsp;s from submit to result;"
            " the image service worked 8.1&nbsp;s of it</dd>") in detail
    # The stored history keeps it.
    assert Generation.objects.get(pk=generation.pk).notes == [SLOW_NOTE, NEGATIVE_PROMPT_DROPPED]


def test_the_live_card_at_the_end_shows_the_wait_and_no_slow_note(user, django_capture_on_commit_callbacks):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(user.pk), channel)
    with django_capture_on_commit_callbacks(execute=True):
        generation = GenerationFactory(owner=user)
        # Submitted half a minute ago and slow on the way.
        Generation.objects.filter(pk=generation.pk).update(created_at=timezone.now() - timedelta(seconds=30))
        generation_add_note(generation.id, SLOW_NOTE)
        services.generation_run(generation_id=generation.id)

    async def drain():
        received = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=0.5)
            except TimeoutError:
                return received
            received.append(json.loads(message["text"]))

    # The judges' verdict follows as its own message (generation.reviewed): the end is the one before.
    messages = [m for m in async_to_sync(drain)() if m["type"] != "generation.reviewed"]
    generation.refresh_from_db()
    waited = (generation.finished_at - generation.created_at).total_seconds()
    assert SLOW_NOTE in messages[-2]["html"]  # while it ran
    final = messages[-1]
    assert final["type"] == "generation.succeeded"
    assert SLOW_NOTE not in final["html"]
    shown = float(re.search(r">Done in ([\d.]+) s</p>", final["html"]).group(1))
    assert waited >= 30 and abs(shown - waited) <= 0.05


def test_an_edit_card_shows_the_size_of_the_file_it_delivered(browser, user):
    photo = UploadFactory(owner=user, width=400, height=600)
    generation = services.generation_create(
        user=user, model_slug="offline-edit", prompt="x", image_upload_id=photo.id
    )
    assert (generation.width, generation.height) == (832, 1248)
    generation = deliver(generation, photo_bytes(1024, 1536))
    detail = browser.get(f"/generations/{generation.id}/").content.decode()
    for page in (detail, browser.get(f"/generations/{generation.id}/card/").content.decode(),
                 browser.get("/images/").content.decode()):
        shown = card(page, generation)
        assert meta(shown) == "Offline Photo Edit · 1024×1536 · 2 credits"
        if page is not detail:  # the result page shows the image itself above its card
            assert 'style="aspect-ratio: 1024 / 1536"' in shown
    assert 'width="1024" height="1536"' in detail
    assert "<dt>Size</dt><dd>1024×1536 (asked for 832×1248)</dd>" in detail
    # The API keeps its documented fields: the size asked for, and each image's own.
    api = Client(headers={"Authorization": f"Bearer {api_key_create(user=user, name='t').secret}"})
    item = api.get(f"/api/v1/generations/{generation.id}").json()
    assert (item["width"], item["height"]) == (832, 1248)
    assert [(i["width"], i["height"]) for i in item["images"]] == [(1024, 1536)]


def test_a_multi_image_card_shows_each_real_size(browser, user):
    generation = GenerationFactory(owner=user, num_images=2)
    asked = (generation.width, generation.height)
    assert asked == (512, 512)
    generation = deliver(generation, photo_bytes(1024, 1024), photo_bytes(768, 768))
    detail = browser.get(f"/generations/{generation.id}/").content.decode()
    for page in (detail, browser.get("/images/").content.decode()):
        assert meta(card(page, generation)) == "Offline Sketch · 1024×1024, 768×768 · 2 images · 2 credits"
    assert "<dt>Size</dt><dd>1024×1024, 768×768 (asked for 512×512)</dd>" in detail
