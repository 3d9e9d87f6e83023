import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from apps.media import services
from apps.media.models import Kind, Upload
from apps.media.storage import file_read

from .factories import UploadFactory
from .images import PDF, encode, mask_image, photo_bytes


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def test_pages_need_a_login():
    response = Client().get(reverse("media:photos"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_photos_page_has_a_keyboard_usable_file_input_and_a_drop_zone(browser, user):
    UploadFactory(owner=user, filename="harbour.png")
    response = browser.get(reverse("media:photos"))
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        '<input id="id_file" name="file" type="file" accept="image/jpeg,image/png,image/webp" required>'
        in html
    )
    assert '<label for="id_file"' in html
    assert 'enctype="multipart/form-data"' in html and "data-dropzone" in html
    assert "js/photo-upload.js" in html
    assert "harbour.png" in html
    assert 'href="/photos/"' in html  # the nav link


def test_uploading_from_the_page_opens_the_new_photo(browser, user):
    response = browser.post(
        reverse("media:upload"),
        {"file": SimpleUploadedFile("sea.jpg", photo_bytes(64, 48, "JPEG"), "image/jpeg")},
    )
    upload = Upload.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("media:edit", kwargs={"upload_id": upload.pk})
    assert (upload.owner, upload.kind, upload.original_name) == (user, "photo", "sea.jpg")


def test_a_refused_upload_shows_why_on_the_page(browser, settings):
    response = browser.post(
        reverse("media:upload"), {"file": SimpleUploadedFile("cv.jpg", PDF, "image/jpeg")}
    )
    assert response.status_code == 422
    assert "This file is not a JPEG, PNG or WebP image." in response.content.decode()
    settings.MEDIA_MAX_UPLOAD_BYTES = 10_000
    response = browser.post(
        reverse("media:upload"), {"file": SimpleUploadedFile("big.png", bytes(50_000), "image/png")}
    )
    assert response.status_code == 413
    assert "The file is too large" in response.content.decode()
    assert not Upload.objects.exists()


def test_the_edit_page_has_the_mask_canvas_at_the_photos_natural_size(browser, user):
    photo = UploadFactory(owner=user, width=640, height=480)
    response = browser.get(reverse("media:edit", kwargs={"upload_id": photo.pk}))
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'<canvas id="mask-canvas" class="mask-canvas" width="640" height="480"', html)
    assert 'style="aspect-ratio: 640 / 480;' in html
    assert "js/mask-brush.js" in html
    for control in (
        'data-tool="paint"',
        'data-tool="erase"',
        "data-brush-size",
        'data-action="undo"',
        'data-action="redo"',
        'data-action="clear"',
        'data-action="invert"',
        'data-action="save"',
    ):
        assert control in html
    assert f'data-save-url="/photos/{photo.pk}/masks/"' in html
    for key in ("crop", "resize", "upscale", "color", "remove_background", "convert"):
        assert f'hx-post="/photos/{photo.pk}/operations/{key}/"' in html
    assert 'hx-indicator="#op-progress"' in html
    assert "Remove background (GrabCut)" in html


def test_the_edit_page_shows_the_blurhash_placeholder_once_derivatives_exist(browser, user):
    photo = UploadFactory(owner=user)
    html = browser.get(reverse("media:edit", kwargs={"upload_id": photo.pk})).content.decode()
    assert "data:image/png;base64," not in html
    services.upload_derivatives_make(upload_id=photo.pk)
    html = browser.get(reverse("media:edit", kwargs={"upload_id": photo.pk})).content.decode()
    assert "background-image: url(data:image/png;base64," in html
    html = browser.get(reverse("media:photos")).content.decode()
    assert "background-image: url(data:image/png;base64," in html and 'loading="lazy"' in html


def test_another_users_photo_is_404(browser, other_user):
    theirs = UploadFactory(owner=other_user)
    assert browser.get(reverse("media:edit", kwargs={"upload_id": theirs.pk})).status_code == 404
    mask = SimpleUploadedFile("mask.png", encode(mask_image(320, 240, box=(1, 1, 9, 9)), "PNG"), "image/png")
    assert (
        browser.post(
            reverse("media:mask_create", kwargs={"upload_id": theirs.pk}), {"file": mask}
        ).status_code
        == 404
    )
    url = reverse("media:operation", kwargs={"upload_id": theirs.pk, "operation": "crop"})
    assert browser.post(url, {"aspect": "1:1"}, headers={"HX-Request": "true"}).status_code == 404


def test_saving_a_mask_from_the_brush(browser, user):
    photo = UploadFactory(owner=user, width=64, height=48)
    painted = Image.new("RGBA", (64, 48), (0, 0, 0, 255))
    painted.paste((255, 255, 255, 255), (10, 10, 30, 30))
    response = browser.post(
        reverse("media:mask_create", kwargs={"upload_id": photo.pk}),
        {"file": SimpleUploadedFile("mask.png", encode(painted, "PNG"), "image/png")},
    )
    assert response.status_code == 201
    mask = Upload.objects.get(kind=Kind.MASK)
    assert f'data-mask-id="{mask.pk}"' in response.content.decode()
    stored = Image.open(io.BytesIO(file_read(mask.file)))
    assert (stored.mode, stored.size, stored.getbbox()) == ("L", (64, 48), (10, 10, 30, 30))
    assert mask.source == photo


def test_a_mask_of_the_wrong_size_or_empty_comes_back_as_a_message(browser, user):
    photo = UploadFactory(owner=user, width=64, height=48)
    url = reverse("media:mask_create", kwargs={"upload_id": photo.pk})
    wrong = SimpleUploadedFile("mask.png", encode(mask_image(32, 32, box=(1, 1, 5, 5)), "PNG"), "image/png")
    response = browser.post(url, {"file": wrong})
    assert response.status_code == 422
    assert "The mask is 32×32 pixels but the photo is 64×48; they must match." in response.content.decode()
    empty = SimpleUploadedFile("mask.png", encode(mask_image(64, 48), "PNG"), "image/png")
    response = browser.post(url, {"file": empty})
    assert response.status_code == 422 and "data-mask-error" in response.content.decode()


def test_an_operation_from_htmx_redirects_to_the_new_photo(browser, user):
    photo = UploadFactory(owner=user, width=320, height=240)
    url = reverse("media:operation", kwargs={"upload_id": photo.pk, "operation": "crop"})
    response = browser.post(url, {"aspect": "1:1"}, headers={"HX-Request": "true"})
    result = Upload.objects.exclude(pk=photo.pk).get()
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("media:edit", kwargs={"upload_id": result.pk})
    assert (result.width, result.height, result.source_id) == (240, 240, photo.pk)
    page = browser.get(response["HX-Redirect"]).content.decode()
    assert "Crop to aspect ratio" in page and f'href="/photos/{photo.pk}/edit/"' in page


def test_an_operation_without_javascript_redirects(browser, user):
    photo = UploadFactory(owner=user)
    url = reverse("media:operation", kwargs={"upload_id": photo.pk, "operation": "convert"})
    response = browser.post(url, {"format": "WEBP"})
    assert response.status_code == 302
    assert Upload.objects.exclude(pk=photo.pk).get().format == "WEBP"


def test_a_refused_operation_shows_its_message(browser, user, settings):
    settings.MEDIA_MAX_PIXELS = 500_000
    photo = UploadFactory(owner=user, width=320, height=240)
    url = reverse("media:operation", kwargs={"upload_id": photo.pk, "operation": "upscale"})
    response = browser.post(url, {"factor": "4"}, headers={"HX-Request": "true"})
    assert response.status_code == 200  # htmx swaps 2xx only
    assert "The result would be 1280×960 pixels, over the 0.5 MP limit." in response.content.decode()
    response = browser.post(url, {"factor": "4"})
    assert response.status_code == 422
    assert "The result would be 1280×960 pixels" in response.content.decode()
