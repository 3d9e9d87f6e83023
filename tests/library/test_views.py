import io
import re
import zipfile
from urllib.parse import parse_qs, urlparse

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.generations.models import Generation, GenerationImage
from apps.library.models import Collection, CollectionItem, Star
from apps.media.models import Upload

from .conftest import images


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def other_browser(other_user):
    client = Client()
    client.force_login(other_user)
    return client


def test_the_library_finds_by_prompt_filters_and_shows_an_empty_state(browser, user, make_generation, make_photo):
    assert "Your library is empty" in browser.get("/library/").content.decode()
    fox = make_generation(user, prompt="a red fox asleep in deep snow")
    make_generation(user, prompt="a lighthouse on a cliff")
    make_photo(user, filename="holiday.png")

    page = browser.get("/library/").content.decode()
    assert page.count('<li class="tile') == 3
    found = browser.get("/library/", {"q": "fox"}).content.decode()
    assert found.count('<li class="tile') == 1 and "a red fox asleep in deep snow" in found
    (image,) = images(fox)
    assert f'value="image:{image.pk}"' in found
    assert browser.get("/library/", {"kind": "photo"}).content.decode().count('<li class="tile') == 1
    nothing = browser.get("/library/", {"q": "zebra"}).content.decode()
    assert "Nothing matches “zebra”" in nothing


def test_delete_from_the_page_then_undo(browser, user, make_generation):
    generation = make_generation(user)
    response = browser.post("/library/delete/", {"items": [f"generation:{generation.id}"], "next": "/library/"})
    assert response.status_code == 302
    location = response["Location"]
    assert parse_qs(urlparse(location).query)["deleted"] == [f"generation:{generation.id}"]
    banner = browser.get(location).content.decode()
    assert "Deleted 1 item." in banner and "Undo" in banner
    assert browser.get(f"/generations/{generation.id}/").status_code == 404

    restored = browser.post("/library/restore/", {"items": [f"generation:{generation.id}"], "next": "/library/"})
    assert restored.status_code == 302
    assert browser.get(f"/generations/{generation.id}/").status_code == 200


def test_stars_and_collections_from_the_pages(browser, user, make_generation):
    generation = make_generation(user, num_images=2)
    first, second = images(generation)
    for image in (first, second):
        response = browser.post(f"/library/image/{image.pk}/star/", {"starred": "1"}, headers={"HX-Request": "true"})
        assert 'aria-pressed="true"' in response.content.decode()
    assert Star.objects.filter(owner=user).count() == 2

    response = browser.post("/library/collections/add/", {
        "collection": "new", "name": "Favourites", "items": [f"image:{first.pk}", f"image:{second.pk}"]})
    board = Collection.objects.get(owner=user)
    assert board.name == "Favourites" and response["Location"] == f"/library/?collection={board.id}"
    assert browser.get(response["Location"]).content.decode().count('<li class="tile') == 2
    starred = browser.get("/library/", {"starred": "1"}).content.decode()
    assert starred.count('<li class="tile starred') == 2

    arranged = browser.get(f"/library/collections/{board.id}/").content.decode()
    assert arranged.index(f"image:{first.pk}") < arranged.index(f"image:{second.pk}")
    browser.post(f"/library/collections/{board.id}/move/", {"item": f"image:{first.pk}", "direction": "later"})
    arranged = browser.get(f"/library/collections/{board.id}/").content.decode()
    assert arranged.index(f"image:{second.pk}") < arranged.index(f"image:{first.pk}")
    browser.post(f"/library/collections/{board.id}/rename/", {"name": "Best"})
    assert "Best" in browser.get("/library/collections/").content.decode()
    browser.post(f"/library/collections/{board.id}/remove/", {"items": [f"image:{first.pk}"]})
    assert list(CollectionItem.objects.filter(collection=board).values_list("image_id", flat=True)) == [second.pk]
    browser.post(f"/library/collections/{board.id}/delete/")
    assert not Collection.objects.filter(pk=board.pk).exists()


def test_the_result_page_shows_each_image_with_its_actions(browser, user, make_generation):
    generation = make_generation(user, prompt="a red fox asleep in deep snow", num_images=2, seed="5")
    first, second = images(generation)
    page = browser.get(f"/generations/{generation.id}/").content.decode()
    assert page.count('<figure class="result-image"') == 2
    assert page.count(">Use these settings<") == 2 and page.count(">Vary<") == 2
    assert page.count(">Upscale<") == 2 and page.count(">Remove background<") == 2
    assert page.count(">Edit as photo<") == 2 and page.count(">Image to video<") == 2
    assert 'data-copy="a red fox asleep in deep snow"' in page
    settings_link = re.search(r'href="(/\?[^"]+)">Use these settings', page).group(1).replace("&amp;", "&")
    query = parse_qs(urlparse(settings_link).query)
    assert (query["model"], query["prompt"], query["seed"], query["num_images"]) == (
        ["offline-sketch"], ["a red fox asleep in deep snow"], ["5"], ["2"])
    form = browser.get(settings_link).content.decode()
    assert ">a red fox asleep in deep snow</textarea>" in form and 'value="5"' in form

    download = browser.get(f"/library/image/{second.pk}/download/")
    assert download["Content-Disposition"] == (
        f'attachment; filename="a-red-fox-asleep-in-deep-snow-{str(generation.id)[:8]}-2.png"')
    assert download["Content-Type"] == "image/png"


def test_vary_submits_the_same_request_with_a_new_seed(browser, user, make_generation, django_capture_on_commit_callbacks):
    generation = make_generation(user, prompt="a teapot", seed="5")
    (image,) = images(generation)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/library/image/{image.pk}/vary/")
    varied = Generation.objects.exclude(pk=generation.pk).get(owner=user)
    assert response["Location"] == f"/generations/{varied.id}/"
    assert (varied.prompt, varied.catalog_model_id, varied.params["tier"]) == (
        "a teapot", generation.catalog_model_id, generation.params["tier"])
    assert varied.seed != "5" and varied.cached_from_id is None


def test_edit_as_photo_and_upscale_make_photos(browser, user, make_generation, django_capture_on_commit_callbacks):
    generation = make_generation(user, prompt="a teapot")
    (image,) = images(generation)
    response = browser.post(f"/library/image/{image.pk}/to-photo/")
    photo = Upload.objects.get(owner=user)
    assert response["Location"] == f"/photos/{photo.id}/edit/"
    assert (photo.width, photo.height, photo.original_name) == (image.width, image.height, "a teapot.png")
    upscaled = browser.post(f"/library/image/{image.pk}/to-photo/", {"operation": "upscale"})
    result = Upload.objects.filter(owner=user, operation="upscale").get()
    assert upscaled["Location"] == f"/photos/{result.id}/edit/"
    assert (result.width, result.height) == (image.width * 2, image.height * 2)
    video = browser.post(f"/library/image/{image.pk}/to-photo/", {"then": "video"})
    assert video["Location"].endswith("/edit/#generate-from")


def test_a_photo_is_deleted_from_its_page(browser, user, make_photo):
    photo = make_photo(user)
    page = browser.get(f"/photos/{photo.id}/edit/").content.decode()
    assert f'name="items" value="photo:{photo.id}"' in page
    response = browser.post("/library/delete/", {"items": [f"photo:{photo.id}"], "next": "/photos/"})
    assert browser.get(f"/photos/{photo.id}/edit/").status_code == 404
    photos = browser.get(response["Location"]).content.decode()
    assert "holiday" not in photos and "Deleted 1 item." in photos and f'value="photo:{photo.id}"' in photos


def test_every_library_page_is_404_for_another_user_and_a_login_redirect_for_a_visitor(
        browser, other_browser, user, make_generation, make_photo):
    generation = make_generation(user)
    (image,) = images(generation)
    photo = make_photo(user)
    board = Collection.objects.create(owner=user, name="Mine")
    CollectionItem.objects.create(collection=board, image=image, position=1)
    gets = [f"/library/image/{image.pk}/", f"/library/photo/{photo.id}/", f"/library/image/{image.pk}/download/",
            f"/library/collections/{board.id}/", f"/library/?collection={board.id}"]
    posts = [
        ("/library/delete/", {"items": [f"generation:{generation.id}"]}),
        ("/library/delete/", {"items": [f"image:{image.pk}"]}),
        ("/library/delete/", {"items": [f"photo:{photo.id}"]}),
        ("/library/restore/", {"items": [f"generation:{generation.id}"]}),
        (f"/library/image/{image.pk}/star/", {"starred": "1"}),
        (f"/library/photo/{photo.id}/star/", {"starred": "1"}),
        (f"/library/image/{image.pk}/vary/", {}),
        (f"/library/photo/{photo.id}/to-photo/", {"operation": "upscale"}),
        (f"/library/image/{image.pk}/to-photo/", {}),
        ("/library/collections/add/", {"collection": str(board.id), "items": [f"image:{image.pk}"]}),
        ("/library/collections/new/", {"name": "x", "items": [f"image:{image.pk}"]}),
        (f"/library/collections/{board.id}/rename/", {"name": "Theirs"}),
        (f"/library/collections/{board.id}/remove/", {"items": [f"image:{image.pk}"]}),
        (f"/library/collections/{board.id}/move/", {"item": f"image:{image.pk}", "direction": "later"}),
        (f"/library/collections/{board.id}/delete/", {}),
    ]
    for path in gets:
        assert other_browser.get(path).status_code == 404, path
    for path, data in posts:
        assert other_browser.post(path, data).status_code == 404, path
    visitor = Client()
    for path in gets + ["/library/", "/library/collections/", "/account/export/", "/account/delete/"]:
        response = visitor.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), path
    for path, data in posts:
        assert visitor.post(path, data)["Location"].startswith("/accounts/login/"), path
    # Nothing of the owner's changed; the other user made nothing.
    assert Generation.objects.get(pk=generation.pk).deleted_at is None
    assert GenerationImage.objects.get(pk=image.pk).deleted_at is None
    assert Upload.objects.filter(owner=user).count() == 1 and Upload.objects.get(pk=photo.pk).deleted_at is None
    assert Star.objects.count() == 0
    assert list(Collection.objects.values_list("name", flat=True)) == ["Mine"]
    assert list(CollectionItem.objects.values_list("image_id", flat=True)) == [image.pk]
    assert Upload.objects.exclude(owner=user).count() == 0
    assert Generation.objects.exclude(owner=user).count() == 0


def test_the_export_page_builds_a_zip_of_every_file_and_mails_the_link(
        browser, user, make_generation, make_photo, django_capture_on_commit_callbacks):
    from django.core.files.storage import default_storage

    from apps.library.models import DataExport

    generation = make_generation(user, prompt="a red fox", num_images=2)
    photo = make_photo(user)
    assert "Export my data" in browser.get("/account/export/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post("/account/export/")
    assert response["Location"] == "/account/export/"
    export = DataExport.objects.get(owner=user)
    assert (export.status, export.files_count) == ("ready", 3)
    with default_storage.open(export.file, "rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    names = sorted(archive.namelist())
    short = str(generation.id)[:8]
    assert names == ["darkroom.json", f"generations/a-red-fox-{short}-1.png", f"generations/a-red-fox-{short}-2.png",
                     f"photos/photo-{str(photo.id)[:8]}.png"]
    first = images(generation)[0]
    with default_storage.open(first.file, "rb") as handle:
        assert archive.read(f"generations/a-red-fox-{short}-1.png") == handle.read()
    page = browser.get("/account/export/").content.decode()
    assert "Ready: 3 files" in page and "Download the zip" in page
    (message,) = mail.outbox
    assert message.to == [user.email] and "/files/" in message.body and "/account/export/" in message.body


def test_the_credits_history_names_a_deleted_generation_as_such(browser, user, make_generation, committed):
    from apps.library import services
    from apps.library.refs import GENERATION, ItemRef

    from .conftest import past_window

    generation = make_generation(user, prompt="a secret garden")
    assert "a secret garden" in browser.get("/credits/").content.decode()
    services.library_items_delete(user=user, items=[ItemRef(GENERATION, str(generation.id))])
    past_window(generation)
    committed(services.library_purge_due)
    page = browser.get("/credits/").content.decode()
    assert "A deleted generation" in page and "a secret garden" not in page
    assert f"/generations/{generation.id}/" not in page


@pytest.mark.parametrize(("preference", "shown"), [("hide", "Hidden: may not be safe to show"), ("blur", 'flagged" src=')])
def test_a_flagged_image_is_never_shown_plainly_in_the_library(browser, user, make_generation, preference, shown):
    from apps.review.models import ImageReview

    user.flagged_images = preference
    user.save(update_fields=["flagged_images"])
    generation = make_generation(user, prompt="a flagged picture")
    (image,) = images(generation)
    ImageReview.objects.update_or_create(image=image, defaults={
        "generation": generation, "task": "text-to-image", "verdict": "red", "safety_passed": False})
    item_page = reverse("library:item", args=["image", image.pk])
    for path in ("/library/", item_page):
        page = browser.get(path).content.decode()
        assert shown in page, path
        assert "data-viewer data-src" not in page, path  # no full-size viewer of it
