import re

import pytest
from django.test import Client

from apps.catalog.models import CatalogModel
from apps.generations import services
from apps.generations.models import Generation, Status
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def form(**overrides):
    return {"model": "offline-sketch", "prompt": "a lantern", "aspect_ratio": "1:1", "tier": "draft",
            "num_images": "1", **overrides}


def test_visitors_see_the_landing_page_and_sign_up_works():
    client = Client()
    assert "Create an account" in client.get("/").content.decode()
    response = client.post("/accounts/signup/", {"email": "new@example.com", "password1": "a-Strong-pass-123",
                                                 "password2": "a-Strong-pass-123"}, follow=True)
    page = response.content.decode()
    assert re.search(r'class="balance-value">100<', page)
    assert "Nothing yet." in page


def test_the_generate_page_lists_models_with_availability_and_the_price(browser):
    CatalogModel.objects.filter(slug="offline-studio").update(is_enabled=False, disabled_reason="Back at noon.")
    page = browser.get("/").content.decode()
    assert '<option value="offline-sketch" selected>Offline Sketch</option>' in page
    assert '<option value="offline-studio" disabled>Offline Studio — unavailable: Back at noon.</option>' in page
    assert "FLUX Pro — unavailable: Not available on this server yet" in page
    assert "Price: <strong>1 credit</strong>" in page
    assert "procedural-" not in page and "replicate" not in page and "fal-ai" not in page


def test_the_quote_follows_size_and_count(browser):
    response = browser.get("/generate/quote/", {"model": "offline-sketch", "tier": "standard", "num_images": "3"})
    assert "Price: <strong>6 credits</strong>" in response.content.decode()


def test_model_options_show_the_negative_prompt_only_where_supported(browser):
    studio = browser.get("/generate/options/", {"model": "offline-studio"}, headers=HTMX).content.decode()
    sketch = browser.get("/generate/options/", {"model": "offline-sketch"}, headers=HTMX).content.decode()
    assert 'name="negative_prompt"' in studio and 'name="negative_prompt"' not in sketch
    assert "Price: <strong>3 credits</strong>" in studio


def test_submitting_the_form_redirects_to_the_live_card(browser, user):
    response = browser.post("/generations/new/", form(num_images="2"))
    generation = Generation.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/generations/{generation.id}/"
    page = browser.get(response["Location"]).content.decode()
    assert 'role="progressbar"' in page and "Cancel" in page


def test_an_htmx_submit_returns_the_form_and_the_new_card(browser):
    response = browser.post("/generations/new/", form(), headers=HTMX)
    page = response.content.decode()
    generation = Generation.objects.get()
    assert response.status_code == 200
    assert 'id="generate-form"' in page and "a lantern" in page
    assert f'<div hx-swap-oob="afterbegin:#recent"><article id="gen-{generation.id}"' in page
    assert re.search(r'id="balance"[^>]*hx-swap-oob="true"><span class="balance-value">99<', page)


def test_form_errors_come_back_readable_and_nothing_is_charged(browser, user):
    response = browser.post("/generations/new/", form(prompt="  ", seed="abc"), headers=HTMX)
    page = response.content.decode()
    assert "Please check the highlighted fields." in page and "This field is required." in page
    assert Generation.objects.count() == 0
    response = browser.post("/generations/new/", form(num_images="9"))
    assert response.status_code == 422
    assert "Offline Sketch makes 1 to 4 images at a time." in response.content.decode()


def test_the_detail_page_of_a_finished_generation_shows_its_images(browser, user):
    generation = GenerationFactory(owner=user, num_images=2)
    services.generation_run(generation_id=generation.id)
    page = browser.get(f"/generations/{generation.id}/").content.decode()
    assert page.count('class="result"') == 2
    assert "1 credit (charged)" not in page and "2 credits (charged)" in page
    links = re.findall(r'href="(/files/[^"]+)" download', page)
    assert len(links) == 2 and browser.get(links[0])["Content-Type"] == "image/png"


def test_a_failed_generation_shows_its_reason(browser, user, settings):
    settings.OFFLINE_ENGINE_FAILURE_RATE = 1.0
    generation = GenerationFactory(owner=user)
    services.generation_run(generation_id=generation.id)
    page = browser.get(f"/generations/{generation.id}/").content.decode()
    assert "The offline engine failed while drawing this image. You were not charged." in page
    assert "1 credit (returned)" in page


def test_cancel_from_the_page(browser, user):
    generation = GenerationFactory(owner=user)
    response = browser.post(f"/generations/{generation.id}/cancel/", headers=HTMX)
    assert "Canceled — your credits were returned." in response.content.decode()
    assert Generation.objects.get().status == Status.CANCELED


def test_other_peoples_generations_are_not_found(browser, other_user):
    theirs = GenerationFactory(owner=other_user)
    for response in (browser.get(f"/generations/{theirs.id}/"), browser.get(f"/generations/{theirs.id}/card/"),
                     browser.post(f"/generations/{theirs.id}/cancel/")):
        assert response.status_code == 404
    assert Generation.objects.get().status == Status.QUEUED


def test_my_images_pages_newest_first_and_has_an_empty_state(browser, user):
    assert "You have not made any images yet." in browser.get("/images/").content.decode()
    made = [GenerationFactory(owner=user, prompt=f"picture number {i}") for i in range(30)]
    first = browser.get("/images/").content.decode()
    assert first.count('class="card ') == 24
    assert first.index("picture number 29") < first.index("picture number 28")
    cursor = re.search(r'href="\?before=([^"]+)"', first).group(1)
    second = browser.get(f"/images/?before={cursor}").content.decode()
    assert second.count('class="card ') == 6 and "picture number 0" in second
    assert "?before=" not in second.split("Newest")[-1]
    assert len(made) == 30


def test_pages_need_a_login():
    client = Client()
    for path in ("/images/", "/account/api-keys/", "/generate/quote/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_photo_can_be_edited_from_its_page(browser, user):
    from tests.media.factories import UploadFactory

    photo = UploadFactory(owner=user, width=400, height=300)
    page = browser.get(f"/photos/{photo.id}/edit/").content.decode()
    assert "Generate from this photo" in page and '<option value="offline-edit">Offline Photo Edit · 2 credits</option>' in page
    assert "offline-edit" not in browser.get("/").content.decode()  # not offered without a photo
    response = browser.post("/generations/new/", form(model="offline-edit", prompt="stars", image_upload_id=str(photo.id),
                                                       strength="0.5", aspect_ratio="", tier=""))
    generation = Generation.objects.get()
    assert response.status_code == 302
    assert (generation.params["inputs"]["image"], generation.params["strength"]) == (str(photo.id), 0.5)
