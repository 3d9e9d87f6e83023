"""The official `openai` package, pointed at Darkroom (a live test server on loopback), makes images."""

import base64
import io

import httpx
import openai
import pytest
from PIL import Image

from apps.accounts.services import api_key_create
from apps.catalog.models import CatalogModel
from apps.credits.models import CreditAccount
from apps.credits.selectors import credits_balance_get
from apps.generations.models import Generation
from apps.media.models import Upload
from apps.openai_compat import services
from tests.media.images import photo_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalog")]


@pytest.fixture
def secret(user):
    return api_key_create(user=user, name="openai").secret


@pytest.fixture
def client(live_server, secret):
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=secret, max_retries=0, timeout=60)


def test_the_openai_client_generates_an_image_as_base64_and_it_is_saved(client, user, tmp_path):
    result = client.images.generate(model="offline-sketch", prompt="a lighthouse at dusk", size="1024x1024",
                                    response_format="b64_json")
    [item] = result.data
    path = tmp_path / "lighthouse.png"
    path.write_bytes(base64.b64decode(item.b64_json))
    image = Image.open(path)
    assert (image.format, image.size) == ("PNG", (1024, 1024))
    assert item.url is None
    assert (result.size, result.output_format) == ("1024x1024", "png")
    generation = Generation.objects.get()
    assert (generation.status, generation.params["tier"], generation.params["aspect_ratio"]) == (
        "succeeded", "standard", "1:1",
    )
    assert result.created == int(generation.created_at.timestamp())
    assert credits_balance_get(user=user) == 98


def test_urls_and_dall_e_names_map_to_the_default_model(client, live_server, settings):
    settings.SITE_URL = live_server.url
    result = client.images.generate(model="dall-e-3", prompt="two kites", n=2, size="1792x1024")
    assert len(result.data) == 2
    for item in result.data:
        assert item.b64_json is None and item.url.startswith(f"{live_server.url}/files/")
        download = httpx.get(item.url)
        assert download.status_code == 200
        assert Image.open(io.BytesIO(download.content)).size == (1360, 768)
    generation = Generation.objects.get()
    assert (generation.catalog_model.slug, generation.num_images, generation.params["aspect_ratio"],
            generation.params["tier"]) == ("offline-sketch", 2, "16:9", "standard")


def test_openai_errors_have_openais_shape(client, live_server, user):
    with pytest.raises(openai.NotFoundError) as unknown:
        client.images.generate(model="dall-e-9", prompt="x")
    assert unknown.value.body == {
        "message": "The model `dall-e-9` does not exist or you do not have access to it.",
        "type": "invalid_request_error", "param": "model", "code": "model_not_found",
    }
    with pytest.raises(openai.BadRequestError) as too_many:
        client.images.generate(model="offline-sketch", prompt="x", n=5)
    assert (too_many.value.code, too_many.value.param, too_many.value.body["message"]) == (
        "invalid_request", "n", "Offline Sketch makes 1 to 4 images at a time.",
    )
    with pytest.raises(openai.BadRequestError) as bad_size:
        client.images.generate(model="offline-sketch", prompt="x", size="huge")
    assert (bad_size.value.code, bad_size.value.param) == ("invalid_value", "size")
    with pytest.raises(openai.BadRequestError) as missing:
        client.post("/images/generations", body={"model": "offline-sketch"}, cast_to=object)
    assert (missing.value.code, missing.value.param) == ("invalid_value", "prompt")
    CreditAccount.objects.filter(user=user).update(balance=0)
    with pytest.raises(openai.APIStatusError) as broke:
        client.images.generate(model="offline-sketch", prompt="x")
    assert (broke.value.status_code, broke.value.body) == (402, {
        "message": "This needs 1 credit and your balance is 0.", "type": "insufficient_quota", "param": None,
        "code": "insufficient_credits",
    })
    bad_key = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="sk-not-darkroom", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as unauthenticated:
        bad_key.images.generate(prompt="x")
    assert unauthenticated.value.code == "invalid_api_key"
    assert Generation.objects.count() == 0


def test_an_unavailable_model_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model="gpt-image-1", prompt="x")
    assert (refused.value.code, refused.value.param) == ("model_unavailable", None)
    assert "is unavailable: Not available on this server yet" in refused.value.body["message"]


def test_the_openai_client_edits_an_image_with_a_mask(client, user):
    photo = photo_bytes(320, 240)
    mask = Image.new("RGBA", (320, 240), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (100, 60, 220, 180))  # transparent: repaint here
    mask_png = io.BytesIO()
    mask.save(mask_png, format="PNG")
    result = client.images.edit(
        model="offline-edit", image=("photo.png", photo, "image/png"), mask=("mask.png", mask_png.getvalue(), "image/png"),
        prompt="a red balloon", response_format="b64_json",
    )
    [item] = result.data
    assert Image.open(io.BytesIO(base64.b64decode(item.b64_json))).format == "PNG"
    generation = Generation.objects.get()
    photo_upload = Upload.objects.get(kind="photo")
    mask_upload = Upload.objects.get(kind="mask")
    assert generation.status == "succeeded"
    assert (mask_upload.source_id, mask_upload.width, mask_upload.height) == (photo_upload.id, 320, 240)
    assert str(photo_upload.id) in str(generation.params["inputs"])
    from apps.media.storage import file_read

    stored_mask = Image.open(io.BytesIO(file_read(mask_upload.file)))
    assert (stored_mask.mode, stored_mask.getpixel((150, 100)), stored_mask.getpixel((10, 10))) == ("L", 255, 0)


def test_edits_need_an_image_and_an_edit_model(client):
    with pytest.raises(openai.BadRequestError) as not_edit:
        client.images.edit(model="offline-sketch", image=("p.png", photo_bytes(), "image/png"), prompt="x")
    assert (not_edit.value.code, not_edit.value.param) == ("invalid_value", "model")
    with pytest.raises(openai.BadRequestError) as bad_image:
        client.images.edit(model="offline-edit", image=("p.png", b"%PDF-1.4 not an image", "image/png"), prompt="x")
    assert bad_image.value.status_code == 400 and bad_image.value.body["type"] == "invalid_request_error"
    assert Generation.objects.count() == 0


def test_sizes_map_to_the_nearest_ratio_and_tier(catalog):
    sketch = CatalogModel.objects.get(slug="offline-sketch")
    assert services.shape_for(sketch, size="1536x1024", quality=None) == services.Shape("4:3", "standard")
    assert services.shape_for(sketch, size="256x256", quality=None) == services.Shape("1:1", "draft")
    assert services.shape_for(sketch, size="auto", quality="hd") == services.Shape(None, "standard")
    assert services.shape_for(sketch, size=None, quality="low") == services.Shape(None, "draft")
    assert services.wants_b64(requested_model="gpt-image-1", response_format=None) is True
    assert services.wants_b64(requested_model="dall-e-3", response_format=None) is False
    assert services.wants_b64(requested_model="gpt-image-1", response_format="url") is False
    assert services.model_resolve("dall-e-2").slug == "offline-sketch"
    assert services.model_resolve(None, edit=True).slug == "offline-edit"
    assert services.model_resolve("gpt-image-1.5").slug == "gpt-image-1"


def test_an_idempotency_key_on_v1_replays_without_a_second_generation(secret):
    from django.test import Client

    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "img-1"}
    body = {"model": "offline-sketch", "prompt": "once", "response_format": "url"}
    first = Client().post("/v1/images/generations", body, content_type="application/json", headers=headers)
    again = Client().post("/v1/images/generations", body, content_type="application/json", headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert Generation.objects.count() == 1


def test_unknown_v1_paths_answer_in_openais_shape():
    from django.test import Client

    response = Client().get("/v1/models/nope")
    assert (response.status_code, response.json()) == (404, {"error": {
        "message": "Not found.", "type": "invalid_request_error", "param": None, "code": "not_found",
    }})
