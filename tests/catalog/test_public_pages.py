"""The public catalogue (no login): /models, /models/<slug>, /pricing, /llms.txt and GET /api/v1/models."""

import json

import pytest

from apps.catalog.models import CatalogModel
from apps.credits.models import CreditPackage

pytestmark = pytest.mark.usefixtures("catalog")


def test_the_model_list_is_public_and_names_no_provider(client):
    response = client.get("/models")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'href="/models/offline-sketch">Offline Sketch</a>' in html
    models = list(CatalogModel.objects.all())
    slugs = {model.slug for model in models}
    # Routing names with an owner part ("vendor/model") never appear; nor do provider hosts.
    internal = {route["model"] for model in models for route in model.routes if "/" in route["model"]} - slugs
    assert len(internal) > 5
    assert [name for name in internal if name in html] == []
    assert [host for host in ("replicate.com", "fal.run", "fal.ai", "api.openai.com", "stability.ai") if host in html] == []


def test_a_model_page_shows_sizes_prices_and_ratios(client):
    model = CatalogModel.objects.get(slug="offline-studio")
    html = client.get("/models/offline-studio").content.decode()
    assert "<h1>Offline Studio</h1>" in html
    assert "<td>Standard</td><td>1024×1024</td><td>3 credits per image</td>" in html
    assert "<td>Large</td><td>1536×1536</td><td>6 credits per image</td>" in html
    assert ", ".join(model.aspect_ratios) in html
    assert client.get("/models/no-such-model").status_code == 404


def test_pricing_lists_packages_and_every_models_prices(client):
    CreditPackage.objects.create(name="Starter", credits=500, price_cents=500)
    CreditPackage.objects.create(name="Hidden", credits=5, price_cents=100, is_active=False)
    html = client.get("/pricing").content.decode()
    assert "<strong>500 credits</strong> for $5.00" in html
    assert "Hidden" not in html
    assert "Standard 1024×1024: 3 per image · Large 1536×1536: 6 per image" in html
    assert html.count('<tr><td><a href="/models/') == CatalogModel.objects.count()


def test_llms_txt_lists_every_model_with_its_input_schema(client):
    response = client.get("/llms.txt")
    text = response.content.decode()
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert text.startswith("# Darkroom\n")
    assert text.count("Input schema:") == CatalogModel.objects.count()
    schema = text.split("### Offline Studio (`offline-studio`)", 1)[1].split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(schema)["properties"]["tier"] == {"enum": ["standard", "large"], "default": "standard"}


def test_the_api_model_list_needs_no_key(client):
    response = client.get("/api/v1/models")
    assert response.status_code == 200
    assert [m["slug"] for m in response.json()] == list(CatalogModel.objects.values_list("slug", flat=True))
    one = client.get("/api/v1/models/offline-sketch")
    assert one.status_code == 200 and one.json()["slug"] == "offline-sketch"
    assert client.get("/api/v1/models/nope").json() == {"detail": "Model not found.", "code": "not_found"}


def test_the_model_list_shows_every_tier_and_public_samples(client):
    from apps.gallery import services as gallery_services
    from tests.accounts.factories import UserFactory
    from tests.gallery.factories import finished_generation

    artist = UserFactory()
    image = finished_generation(artist).images.get()
    share = gallery_services.share_set(user=artist, image_id=image.pk, visibility="public")
    unlisted = gallery_services.share_set(user=artist, image_id=finished_generation(artist).images.get().pk,
                                          visibility="unlisted")
    html = client.get("/models").content.decode()
    assert "Draft 512×512: 1 credit per image · Standard 1024×1024: 2 credits per image" in html
    assert f'href="/i/{share.token}"' in html and f'href="/i/{unlisted.token}"' not in html
    page = client.get("/models/offline-sketch").content.decode()
    assert f'href="/i/{share.token}"' in page
