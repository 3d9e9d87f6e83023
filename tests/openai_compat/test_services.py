from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core import events
from apps.credits.selectors import credits_balance_get
from apps.generations import services as generation_services
from apps.generations.models import Generation
from apps.openai_compat import services
from apps.openai_compat.errors import OpenAIError, from_application_error
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")


def test_a_generation_past_its_deadline_is_canceled_refunded_and_answered_504(user):
    generation = GenerationFactory(owner=user)  # queued: no worker runs it here
    Generation.objects.filter(pk=generation.pk).update(deadline_at=timezone.now() - timedelta(seconds=11))
    with pytest.raises(OpenAIError) as timeout:
        services.generation_wait(generation_id=generation.id, poll_seconds=0)
    assert from_application_error(timeout.value) == (504, {"error": {
        "message": "The image took too long to make and was stopped. You were not charged.",
        "type": "server_error", "param": None, "code": "timeout",
    }})
    generation.refresh_from_db()
    assert generation.status == "canceled"
    assert credits_balance_get(user=user) == 100


def test_a_failed_or_blocked_generation_is_an_openai_error(user):
    failed = GenerationFactory(owner=user)
    generation_services.generation_fail(generation_id=failed.id, code="provider_error", message="It broke.")
    with pytest.raises(OpenAIError) as error:
        services.images_response(Generation.objects.get(pk=failed.pk), b64=True)
    assert from_application_error(error.value) == (500, {"error": {
        "message": "It broke.", "type": "server_error", "param": None, "code": "provider_error",
    }})
    blocked = GenerationFactory(owner=user)
    generation_services.generation_reject(generation_id=blocked.id, message="Blocked by the safety check.")
    with pytest.raises(OpenAIError) as error:
        services.images_response(Generation.objects.get(pk=blocked.pk), b64=True)
    assert from_application_error(error.value) == (400, {"error": {
        "message": "Blocked by the safety check.", "type": "image_generation_user_error", "param": None,
        "code": "moderation_blocked",
    }})


def _previewed(generation, *, progress: float, preview: bytes) -> events.GenerationProgressed:
    return events.GenerationProgressed(user_id=generation.owner_id, generation_id=str(generation.pk),
                                       status=generation.status, progress=progress, preview=preview)


def test_partials_are_the_first_previews_past_even_steps_of_the_progress(user):
    from apps.openai_compat.models import ImageStream

    generation = GenerationFactory(owner=user)
    untracked = GenerationFactory(owner=user)
    services.stream_open(generation=generation, partial_images=2)
    for progress in (0.2, 0.3, 0.34, 0.5, 0.66, 0.7, 0.9):
        for target in (generation, untracked):
            services.stream_preview_keep(_previewed(target, progress=progress, preview=f"{progress}".encode()))
    # Two partials: the first preview at or past 1/3, then the first at or past 2/3.
    assert services.stream_partials(generation_id=generation.id, after=0) == ["MC4zNA==", "MC43"]  # b"0.34", b"0.7"
    assert services.stream_partials(generation_id=generation.id, after=1) == ["MC43"]
    assert not ImageStream.objects.filter(pk=untracked.pk).exists()
    services.stream_close(generation_id=generation.id)
    assert services.stream_partials(generation_id=generation.id, after=0) == []


@pytest.mark.parametrize("body, code, param", [
    ({"prompt": "a\u0000b"}, "invalid_text", None),  # NUL: refused for every API by a middleware
    ({"prompt": "kite", "model": "offline-sketch\u0000"}, "invalid_text", None),
    ({"prompt": "\ud800 kite"}, "invalid_value", "prompt"),  # an unpaired surrogate can't be UTF-8
    ({"prompt": "kite", "user": "\udfff"}, "invalid_value", "user"),
    ({"prompt": "kite", "size": "\u00b2x\u00b2"}, "invalid_value", "size"),  # "²".isdigit(), but not int("²")
])
def test_text_postgresql_cannot_hold_is_a_400_not_a_500(user, body, code, param):
    import json

    from django.test import Client

    from apps.accounts.services import api_key_create

    secret = api_key_create(user=user, name="t").secret
    response = Client().post("/v1/images/generations", json.dumps(body), content_type="application/json",
                             headers={"Authorization": f"Bearer {secret}"})
    error = response.json()["error"]
    assert (response.status_code, error["code"], error["param"]) == (400, code, param), response.content
    assert not Generation.objects.exists()


def test_unreadable_multipart_is_a_400_in_openais_shape(user):
    from django.test import Client

    from apps.accounts.services import api_key_create

    secret = api_key_create(user=user, name="t").secret
    response = Client().generic("POST", "/v1/images/edits", b"--x--\r\n", content_type="multipart/form-data; boundary=",
                                headers={"Authorization": f"Bearer {secret}"})
    assert (response.status_code, response.json()) == (400, {"error": {
        "message": "The multipart body could not be read.", "type": "invalid_request_error", "param": None,
        "code": "invalid_multipart",
    }})


def test_a_stream_keeps_alive_sends_partials_as_they_come_and_ends_with_an_error_event(user, settings):
    import base64
    import json

    from asgiref.sync import async_to_sync, sync_to_async

    from apps.openai_compat import streaming
    from apps.openai_compat.models import ImageStream

    settings.OPENAI_COMPAT_POLL_SECONDS = 0
    settings.EVENTS_KEEPALIVE_SECONDS = 0
    generation = GenerationFactory(owner=user)  # queued: no worker runs it here
    services.stream_open(generation=generation, partial_images=1)
    events = streaming.image_events(generation_id=generation.id, prefix="image_generation", quality="low",
                                    size="512x512")

    async def take(keepalives: bool = False) -> str:
        while (chunk := await anext(events)) == ": keepalive\n\n" and not keepalives:
            pass
        return chunk

    @async_to_sync
    async def read() -> list[str]:  # one event loop for the whole stream, as a server runs it
        chunks = [await take(keepalives=True)]  # nothing to send yet
        # What a worker does while the stream waits: a preview, then the deadline passes.
        await sync_to_async(services.stream_preview_keep)(_previewed(generation, progress=0.6, preview=b"a preview"))
        chunks.append(await take())
        await sync_to_async(Generation.objects.filter(pk=generation.pk).update)(
            deadline_at=timezone.now() - timedelta(seconds=11))
        chunks.append(await take())
        chunks.extend([chunk async for chunk in events])
        return chunks

    keepalive, partial, error, *rest = read()
    assert (keepalive, rest) == (": keepalive\n\n", [])
    event, data = partial.split("\n", 1)
    assert event == "event: image_generation.partial_image"
    assert json.loads(data.removeprefix("data: ")) | {"created_at": 0} == {
        "type": "image_generation.partial_image", "b64_json": base64.b64encode(b"a preview").decode(),
        "partial_image_index": 0, "size": "512x512", "output_format": "jpeg", "quality": "low",
        "background": "auto", "created_at": 0,
    }
    assert error == "event: error\ndata: " + json.dumps({"type": "error", "error": {
        "message": "The image took too long to make and was stopped. You were not charged.",
        "type": "server_error", "param": None, "code": "timeout",
    }}, separators=(",", ":")) + "\n\n"
    assert Generation.objects.get(pk=generation.pk).status == "canceled" and credits_balance_get(user=user) == 100
    assert not ImageStream.objects.exists()
