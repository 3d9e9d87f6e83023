"""The photo tools in headless Chromium: from a photo's page to its AI upscale, made offline."""

import pytest
from playwright.sync_api import expect

from apps.generations.models import Generation
from tests.media.factories import UploadFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = "/tmp/darkroom-shots"


@pytest.fixture
def page(signed_in_page):
    return signed_in_page


def test_from_the_photo_page_to_an_ai_upscale(page, catalog, user):
    photo = UploadFactory(owner=user, width=120, height=90, filename="mug.png")
    page.goto(f"/photos/{photo.id}/edit/")
    page.click("a.button:text-is('Upscale')")
    expect(page.locator("h1")).to_have_text("Upscale")
    expect(page.locator(f"input[name='photo'][value='{photo.id}']")).to_be_checked()
    page.screenshot(path=f"{SHOTS}/studio-upscale-1280.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=f"{SHOTS}/studio-upscale-390.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.locator("label.model-choice", has_text="AI Upscale").click()
    page.click("button[type=submit]:text-is('Upscale')")
    expect(page.locator("article.card")).to_have_count(1)
    generation = Generation.objects.get()
    assert page.url.endswith(f"/generations/{generation.id}/")
    assert (generation.catalog_model.slug, generation.params["width"]) == ("ai-upscale", 240)
    expect(page.locator(".card")).to_have_attribute("data-status", "succeeded")
