"""Auto and the style chips on the Generate page, in headless Chromium (offline): pick Auto, type
a prompt and see which model it picks and the price, pick a style, generate, read the reason."""

import pytest
from playwright.sync_api import expect

from apps.generations.models import Generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = "/tmp/darkroom-shots"


@pytest.fixture
def page(signed_in_page):
    return signed_in_page


def test_auto_names_its_pick_and_the_card_says_why(page, catalog, user):
    page.goto("/")
    page.select_option("#id_model", "auto")
    expect(page.locator("legend", has_text="Budget")).to_be_visible()
    page.fill("#id_prompt", "a watercolor fox in the snow")
    expect(page.locator("#quote")).to_contain_text("Auto picks Offline Sketch · Price: 1 credit")
    page.locator("label.chip", has_text="Watercolor").click()
    page.screenshot(path=f"{SHOTS}/generate-auto-1280.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=f"{SHOTS}/generate-auto-390.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.click("button[type=submit]:text-is('Generate')")
    card = page.locator("#recent article.card").first
    expect(card.locator("p.note")).to_have_text(
        "Auto chose Offline Sketch: the offline engine (no AI model is available for this), as the prompt "
        "mentions “watercolor”.")
    generation = Generation.objects.get(owner=user)
    assert generation.params["preset"] == "watercolor"
    assert generation.prompt.startswith("Delicate watercolor illustration of a watercolor fox in the snow")
