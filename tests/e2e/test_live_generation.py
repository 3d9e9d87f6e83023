"""A generation through the production shape: API → Redis → Celery worker → PostgreSQL,
storage and the Redis channel layer → the user's websocket."""

import io
import uuid

import pytest
from django.test import Client
from PIL import Image
from websockets.exceptions import InvalidStatus

from apps.accounts.services import api_key_create
from apps.credits.models import LedgerEntry
from apps.credits.selectors import credits_balance_get
from apps.generations.models import Generation, GenerationImage
from tests.accounts.factories import UserFactory

from .conftest import events_until, http_client, open_socket

pytestmark = pytest.mark.live

DRAFT_PRICE = 1  # offline-sketch, draft tier, one image (apps/catalog/catalog.toml)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def test_api_generation_streams_progress_and_settles_credits(live):
    user = UserFactory()
    key = api_key_create(user=user, name="live test").secret
    origin = live.base_url

    with open_socket(live.ws_url, cookie=session_cookie(user), origin=origin) as ws, \
            http_client(live.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        response = api.post(
            "/api/v1/generations",
            json={"model": "offline-sketch", "prompt": "a lighthouse over a calm sea", "tier": "draft",
                  "num_images": 1, "seed": "7"},
        )
        assert response.status_code == 201, response.text
        created = response.json()
        generation_id = created["id"]
        assert created["status"] in {"queued", "dispatched", "running"}
        assert created["quoted_credits"] == DRAFT_PRICE
        assert (created["width"], created["height"]) == (512, 512)
        assert created["seed"] == "7"

        events = events_until(ws, generation_id=generation_id, event="generation.succeeded")

        progress = [m["data"]["progress"] for m in events if m["type"] == "generation.progress"]
        assert any(0 < p < 1 for p in progress), f"no intermediate progress before success: {progress}"
        assert progress == sorted(progress), f"progress went backwards: {progress}"
        revisions = [m["data"]["revision"] for m in events]
        assert revisions == sorted(revisions), revisions
        done = events[-1]
        assert done["data"]["status"] == "succeeded"
        assert done["data"]["progress"] == 1.0
        assert done["data"]["error_code"] is None
        assert f'id="gen-{generation_id}"' in done["html"]
        assert 'data-status="succeeded"' in done["html"]
        assert 'class="result"' in done["html"]

        response = api.get(f"/api/v1/generations/{generation_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "succeeded"
        assert body["progress"] == 1.0
        assert body["error"] is None
        assert len(body["images"]) == 1
        image_out = body["images"][0]
        assert (image_out["width"], image_out["height"]) == (512, 512)
        assert image_out["url"].startswith(f"{live.base_url}/files/")

        # The signed link serves the same bytes as the stored file.
        served = api.get(image_out["url"].removeprefix(live.base_url))
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/png"

    image = GenerationImage.objects.get(generation_id=generation_id)
    path = live.media_root / image.file
    assert path.is_file(), f"{path} is not in the media root"
    assert served.content == path.read_bytes()
    with Image.open(io.BytesIO(path.read_bytes())) as decoded:
        decoded.load()
        assert decoded.format == "PNG"
        assert decoded.size == (body["width"], body["height"]) == (image.width, image.height)
    assert (live.media_root / image.thumbnail).is_file()

    generation = Generation.objects.get(pk=generation_id)
    assert generation.status == "succeeded"
    ledger = sorted(LedgerEntry.objects.filter(generation=generation).values_list("kind", "amount"))
    assert ledger == [("capture", 0), ("reserve", -generation.quoted_credits)]
    assert credits_balance_get(user=user) == 100 - generation.quoted_credits == 99


def test_websocket_refuses_anonymous_and_foreign_origin(live):
    user = UserFactory()
    cookie = session_cookie(user)

    with pytest.raises(InvalidStatus) as anonymous:
        open_socket(live.ws_url, origin=live.base_url)
    assert anonymous.value.response.status_code == 403

    with pytest.raises(InvalidStatus) as foreign:
        open_socket(live.ws_url, cookie=cookie, origin="http://evil.example")
    assert foreign.value.response.status_code == 403

    # A forged or stale session id is anonymous too.
    with pytest.raises(InvalidStatus) as forged:
        open_socket(live.ws_url, cookie=uuid.uuid4().hex, origin=live.base_url)
    assert forged.value.response.status_code == 403

    # The same cookie with the site's own origin is let in, so the refusals above were about
    # the session and the origin, not the socket.
    with open_socket(live.ws_url, cookie=cookie, origin=live.base_url) as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)
