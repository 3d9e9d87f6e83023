"""Auto on the Generate page: the picker offers it first, grouped apart from the models; with it
the form asks for a budget instead of a size, the price line says which model Auto picks for the
prompt, and the card of what was made says why."""

import pytest
from django.test import Client

from apps.generations.models import Generation

pytestmark = pytest.mark.usefixtures("catalog")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_picker_offers_auto_and_groups_the_models(browser):
    page = browser.get("/").content.decode()
    assert '<optgroup label="Automatic"><option value="auto">Auto — picked for your prompt</option></optgroup>' in page
    assert '<optgroup label="Images from text">' in page
    assert '<optgroup label="Video clips from text">' in page
    assert '<option value="offline-sketch" selected>Offline Sketch</option>' in page


def test_with_auto_the_form_asks_for_a_budget_and_names_the_pick(browser):
    options = browser.get("/generate/options/", {"model": "auto", "prompt": "a poster that says SUMMER SALE"}).content.decode()
    assert "<legend>Budget</legend>" in options
    assert 'value="balanced" checked' in options
    assert ("Auto picks <strong>Offline Sketch</strong></span> · Price: <strong>1 credit</strong>") in options
    assert ('title="Auto chose Offline Sketch: the offline engine (no AI model is available for this), as the '
            'prompt has words to render (“SUMMER SALE”)."') in options
    quote = browser.get("/generate/quote/", {"model": "auto", "prompt": ""}).content.decode()
    assert "Write a prompt: Auto picks a model for it." in quote


def test_generating_with_auto_shows_the_choice_and_its_reason_on_the_card(browser, user):
    response = browser.post("/generations/new/", {"model": "auto", "prompt": "a watercolor fox", "aspect_ratio": "1:1",
                                           "tier": "economy", "num_images": "1"}, headers=HTMX)
    assert response.status_code == 200
    generation = Generation.objects.get(owner=user)
    reason = ("Auto chose Offline Sketch: the offline engine (no AI model is available for this), as the prompt "
              "mentions “watercolor”.")
    assert (generation.catalog_model.slug, generation.notes) == ("offline-sketch", [reason])
    assert f'<p class="note">{reason}</p>' in response.content.decode()
