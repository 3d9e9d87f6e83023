"""Prompt presets (styles): staff-managed and versioned — a change is a new version, never an edit;
a generation records the version it used; the admin compares versions; users pick chips."""

import pytest
from django.test import Client

from apps.catalog.models import PromptPreset
from apps.catalog.services import PresetInvalidError, catalog_load, preset_save
from apps.generations import services
from apps.generations.models import Generation, Status
from devtools import standins
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.usefixtures("catalog")


def test_saving_a_change_makes_a_new_version_and_an_unchanged_save_does_not(db):
    poster = PromptPreset.objects.get(slug="poster")
    first = poster.current
    assert (first.number, first.aspect_ratio) == (1, "3:4")
    same = preset_save(preset=poster, template=first.template, negative_prompt=first.negative_prompt,
                       aspect_ratio=first.aspect_ratio, model_hints=first.model_hints)
    assert same == first and poster.versions.count() == 1
    second = preset_save(preset=poster, template="A poster: {prompt}, big letters", aspect_ratio="3:4")
    assert (second.number, poster.versions.count(), poster.current) == (2, 2, second)
    first.refresh_from_db()
    assert first.template.startswith("Bold graphic poster design")  # the old version is untouched
    catalog_load()  # the shipped file never overwrites staff's presets
    assert (poster.versions.count(), poster.current) == (2, second)
    with pytest.raises(PresetInvalidError):
        preset_save(preset=poster, template="no placeholder")


def test_a_generation_wraps_the_prompt_and_records_the_version(user):
    generation = services.generation_create(user=user, model_slug="offline-studio", prompt="a ceramic mug",
                                            negative_prompt="steam", preset="studio-product")
    version = PromptPreset.objects.get(slug="studio-product").current
    assert generation.prompt == ("Professional studio product photograph of a ceramic mug, seamless light backdrop, "
                                 "soft box lighting, sharp focus, high detail, commercial e-commerce style")
    assert generation.negative_prompt == "steam, blurry, clutter, text, watermark, distorted"
    assert (generation.params["preset"], generation.params["preset_version"]) == ("studio-product", str(version.id))
    assert generation.params["aspect_ratio"] == "1:1"
    # A model without negative prompts gets the template only; the style's ratio when offered.
    sketch = services.generation_create(user=user, model_slug="offline-sketch", prompt="a fox", preset="lifestyle")
    assert (sketch.negative_prompt, sketch.params["aspect_ratio"]) == ("", "4:3")
    with pytest.raises(Exception, match="Choose one of the styles offered."):
        services.generation_create(user=user, model_slug="offline-sketch", prompt="a fox", preset="nope")


def test_auto_follows_a_styles_model_hints(settings, user):
    for name, value in standins.simulator_settings("http://127.0.0.1:9").items():
        setattr(settings, name, value)
    generation = services.generation_create(user=user, model_slug="auto", prompt="summer fruit", preset="poster")
    # The poster style's hints (Ideogram, Recraft, Qwen) lead; the cheapest of them wins.
    assert (generation.catalog_model.slug, generation.params["auto_intent"]) == ("qwen-image", "text")
    assert generation.params["aspect_ratio"] == "3:4"


def test_the_generate_page_offers_style_chips_and_the_admin_compares_versions(user):
    client = Client()
    client.force_login(user)
    page = client.get("/").content.decode()
    assert '<label class="chip" title="Clean e-commerce shot on a seamless backdrop."><input type="radio" name="preset" value="studio-product"><span>Studio product</span></label>' in page
    client.post("/generations/new/", {"model": "offline-sketch", "prompt": "a lamp", "tier": "draft",
                                      "num_images": "1", "preset": "watercolor"})
    made = Generation.objects.get(owner=user)
    assert made.prompt.startswith("Delicate watercolor illustration of a lamp")
    services.generation_run(generation_id=made.id)
    made.refresh_from_db()
    assert made.status == Status.SUCCEEDED

    staff = UserFactory()
    staff.is_staff = staff.is_superuser = True
    staff.save()
    admin = Client()
    admin.force_login(staff)
    watercolor = PromptPreset.objects.get(slug="watercolor")
    url = f"/admin/catalog/promptpreset/{watercolor.pk}/change/"
    form = {"slug": "watercolor", "label": "Watercolor", "description": "Soft.", "is_active": "on",
            "sort_order": "40", "template": "Loose watercolor painting of {prompt}", "negative_prompt": "",
            "aspect_ratio": "", "model_hints": "recraft"}
    assert admin.post(url, form).status_code == 302
    assert [v.number for v in watercolor.versions.all()] == [2, 1]
    page = admin.get(url).content.decode()
    assert "<tr><td>v2</td>" in page
    assert "<td>v1</td>" in page and "<td>1</td><td>100%</td><td>—</td><td>—</td>" in page


def test_the_api_takes_a_style(user):
    from apps.accounts.services import api_key_create
    from tests.apiclient import ApiClient

    api = ApiClient(api_key_create(user=user, name="tests").secret)
    response = api.post("/generations", {"model": "offline-sketch", "prompt": "a kite", "preset": "poster"})
    assert response.status_code == 201, response.content
    assert response.json()["prompt"] == ("Bold graphic poster design: a kite. Clean layout, strong typography, "
                                         "legible text, vivid colours")
    assert api.post("/generations", {"model": "offline-sketch", "prompt": "a kite", "preset": "x"}).status_code == 422
