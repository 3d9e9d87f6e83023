"""The photo tools' pages: reached from the photo page (or any URL) with the photo preselected,
each lists the models that can do it with plain descriptions and prices per tier, and submits one
generation on the photo — or on one of the user's generated images, kept as a photo first."""

import pytest
from django.test import Client

from apps.generations import services
from apps.generations.models import Generation, Status
from apps.media.models import Upload
from tests.media.factories import UploadFactory

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def photo(user):
    return UploadFactory(owner=user, width=96, height=72)


def test_the_photo_page_links_every_tool_with_the_photo_preselected(browser, photo):
    page = browser.get(f"/photos/{photo.id}/edit/").content.decode()
    for key, title in (("edit", "Edit with words"), ("upscale", "Upscale"), ("cutout", "Cut out"),
                       ("animate", "Image to video"), ("face-swap", "Face swap")):
        assert f'<a class="button small" href="/studio/{key}/?photo={photo.id}">{title}</a>' in page


def test_a_tool_page_lists_its_models_with_prices_and_the_photo_checked(browser, photo):
    page = browser.get("/studio/upscale/", {"photo": str(photo.id)}).content.decode()
    assert f'value="{photo.id}" checked' in page
    assert "<strong>AI Upscale</strong> <span class=\"hint\">2×: 1 credit per image · 4×: 2 credits per image</span>" in page
    assert "<strong>Upscale</strong>" in page and "Lanczos" in page
    # Users never see provider names or their model names.
    assert "replicate" not in page.lower() and "esrgan" not in page.lower() and "fal-ai" not in page
    video = browser.get("/studio/animate/", {"photo": str(photo.id)}).content.decode()
    assert "Kling Video" in video and "10 credits per second" in video
    assert browser.get("/studio/nothing/").status_code == 404


def test_upscale_cutout_and_animate_run_on_the_photo(browser, user, photo):
    response = browser.post("/studio/upscale/", {"photo": photo.id, "model": "ai-upscale", "tier": "4x"})
    upscale = Generation.objects.get(owner=user)
    assert response.status_code == 302 and response["Location"] == f"/generations/{upscale.id}/"
    assert (upscale.catalog_model.slug, upscale.params["width"], upscale.params["height"], upscale.quoted_credits) == (
        "ai-upscale", 96 * 4, 72 * 4, 2)
    services.generation_run(generation_id=upscale.id)
    upscale.refresh_from_db()
    # No hosted route is configured: its offline last route made it.
    assert (upscale.status, upscale.provider) == (Status.SUCCEEDED, "offline")
    browser.post("/studio/animate/", {"photo": photo.id, "model": "offline-motion", "duration_seconds": "2",
                                      "prompt": "slow push in"})
    clip = Generation.objects.filter(owner=user, catalog_model__slug="offline-motion").get()
    assert (clip.params["duration_seconds"], clip.quoted_credits) == (2, 2)


def test_face_swap_asks_for_the_face_and_edits_ask_for_words(browser, user, photo):
    response = browser.post("/studio/face-swap/", {"photo": photo.id, "model": "face-swap"})
    assert response.status_code == 422
    assert "Choose the photo of the face to use." in response.content.decode()
    face = UploadFactory(owner=user, width=64, height=64)
    browser.post("/studio/face-swap/", {"photo": photo.id, "face": face.id, "model": "face-swap"})
    swap = Generation.objects.get(owner=user)
    assert swap.params["inputs"]["references"] == [str(face.id)]
    response = browser.post("/studio/edit/", {"photo": photo.id, "model": "offline-edit", "prompt": ""})
    assert response.status_code == 422
    assert "Say what to change in the photo." in response.content.decode()


def test_a_generated_image_is_kept_as_a_photo_and_used(browser, user, photo):
    first = services.generation_create(user=user, model_slug="offline-sketch", prompt="a mug", tier="draft")
    services.generation_run(generation_id=first.id)
    image = first.images.get()
    page = browser.get("/studio/cutout/", {"image": str(image.id)}).content.decode()
    assert f'<input type="hidden" name="image" value="{image.id}">' in page
    browser.post("/studio/cutout/", {"image": image.id, "model": "ai-cutout"})
    cutout = Generation.objects.get(owner=user, catalog_model__slug="ai-cutout")
    kept = Upload.objects.get(pk=cutout.params["inputs"]["image"])
    assert (kept.owner, kept.width, kept.height) == (user, image.width, image.height)


def test_someone_elses_image_is_not_found(browser, other_user):
    other = services.generation_create(user=other_user, model_slug="offline-sketch", prompt="a mug", tier="draft")
    services.generation_run(generation_id=other.id)
    assert browser.get("/studio/cutout/", {"image": str(other.images.get().id)}).status_code == 404


def test_another_users_photo_or_image_is_never_used(browser, user, other_user):
    theirs = UploadFactory(owner=other_user, width=96, height=72)
    page = browser.get("/studio/upscale/", {"photo": str(theirs.id)}).content.decode()
    assert str(theirs.id) not in page.replace(f"photo={theirs.id}", "")  # not offered, not shown
    response = browser.post("/studio/upscale/", {"photo": theirs.id, "model": "ai-upscale", "tier": "2x"})
    assert response.status_code in (404, 422)
    assert not Generation.objects.filter(owner=user).exists()
