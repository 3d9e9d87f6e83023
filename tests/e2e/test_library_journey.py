"""A new user's library in headless Chromium: deletes a photo and a generation, stars two images
into a collection, finds one by its prompt, browses them in the full-screen viewer with the arrow
keys, exports their data and deletes their account. No console error on the way; screenshots of
each page at desktop and phone sizes land in var/test-artifacts/screenshots/library-*.png."""

import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from apps.accounts.models import User
from apps.credits.services import credits_reconcile
from apps.generations.models import Generation
from apps.library.models import Collection, DataExport, Star
from apps.media.models import Upload
from tests.browser import chromium
from tests.media.images import photo_bytes

from .conftest import PASSWORD, ROOT

pytestmark = [pytest.mark.live, pytest.mark.browser]
SCREENSHOTS = Path(ROOT) / "var" / "test-artifacts" / "screenshots"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def wait_for(query, *, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := query():
            return value
        time.sleep(0.1)
    pytest.fail("timed out")


def generate(page, base: str, prompt: str, count: str = "1") -> None:
    page.goto(f"{base}/")
    page.fill("#id_prompt", prompt)
    page.select_option("#id_num_images", count)
    page.get_by_role("button", name="Generate").click()


def test_a_new_user_manages_their_library(live, browser, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    base = live.base_url
    email = f"library-{uuid.uuid4().hex[:10]}@example.com"
    page.goto(f"{base}/accounts/signup/")
    page.fill("#id_email", email)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base}/")
    user = User.objects.get(email=email)
    page.goto(f"{base}/library/")
    expect(page.get_by_text("Your library is empty")).to_be_visible()

    # Two generations: two foxes and a lighthouse.
    generate(page, base, "a red fox asleep in deep snow", "2")
    fox = wait_for(lambda: Generation.objects.filter(owner=user, status="succeeded", prompt__contains="fox").first())
    generate(page, base, "a lighthouse in fog")
    lighthouse = wait_for(lambda: Generation.objects.filter(owner=user, status="succeeded",
                                                            prompt__contains="lighthouse").first())

    # A photo, uploaded then deleted from its page.
    picture = tmp_path / "beach.png"
    picture.write_bytes(photo_bytes(320, 240))
    page.goto(f"{base}/photos/")
    page.set_input_files("#id_file", str(picture))
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(f"{base}/photos/*/edit/")
    photo = Upload.objects.get(owner=user)
    photo_files = [photo.file]
    page.get_by_role("button", name="Delete photo").click()
    page.wait_for_url(f"{base}/photos/?deleted=*")
    assert Upload.objects.get(pk=photo.pk).deleted_at is not None

    # The lighthouse generation, deleted from its result page; the library offers Undo.
    page.goto(f"{base}/generations/{lighthouse.id}/")
    page.get_by_role("button", name="Delete this generation").click()
    page.wait_for_url(f"{base}/library/?deleted=*")
    expect(page.locator(".undo-banner")).to_contain_text("Deleted 1 item.")
    expect(page.locator("li.tile")).to_have_count(2)

    # Both fox images starred and put in a new collection.
    for star in page.locator("li.tile button.star").all():
        star.click()
    expect(page.locator('li.tile button.star[aria-pressed="true"]')).to_have_count(2)
    page.get_by_label("Select all").check()
    expect(page.locator("[data-selected-count]")).to_have_text("2 selected")
    page.select_option("#add-collection", "new")
    page.fill("#new-collection-name", "Foxes")
    page.get_by_role("button", name="Add to collection").click()
    page.wait_for_url(f"{base}/library/?collection=*")
    expect(page.locator("li.tile")).to_have_count(2)
    assert Star.objects.filter(owner=user).count() == 2
    board = Collection.objects.get(owner=user)
    assert board.name == "Foxes" and board.items.count() == 2

    # Found by searching its prompt; the viewer browses with the arrow keys and closes with Escape.
    page.goto(f"{base}/library/")
    page.fill("#lib-q", "foxes snow")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("li.tile")).to_have_count(2)
    page.fill("#lib-q", "lighthouse")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("Nothing matches “lighthouse”")).to_be_visible()
    page.goto(f"{base}/library/?q=fox")
    page.locator("li.tile a.tile-media").first.click()
    viewer = page.locator("#viewer")
    expect(viewer).to_be_visible()
    expect(viewer.locator("[data-viewer-count]")).to_have_text("1 / 2")
    page.keyboard.press("ArrowRight")
    expect(viewer.locator("[data-viewer-count]")).to_have_text("2 / 2")
    page.keyboard.press("ArrowLeft")
    expect(viewer.locator("[data-viewer-count]")).to_have_text("1 / 2")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()

    # The files of the deleted photo and generation are gone once the undo window has passed.
    lighthouse_files = list(Generation.objects.get(pk=lighthouse.pk).images.values_list("file", flat=True))
    wait_for(lambda: not any((live.media_root / p).exists() for p in photo_files + lighthouse_files), timeout=60)

    # Screenshots of the pages, at both sizes.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    image = fox.images.order_by("index").first()
    pages = {"library": "/library/", "item": f"/library/image/{image.pk}/", "result": f"/generations/{fox.id}/",
             "collection": f"/library/collections/{board.id}/", "collections": "/library/collections/",
             "export": "/account/export/", "delete": "/account/delete/"}
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        for name, path in pages.items():
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(SCREENSHOTS / f"library-{name}-{size}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{base}/library/")
    page.locator("li.tile a.tile-media").first.click()
    page.screenshot(path=str(SCREENSHOTS / "library-viewer-desktop.png"))
    page.keyboard.press("Escape")

    # Export, then delete the account.
    page.goto(f"{base}/account/export/")
    page.get_by_role("button", name="Export my data").click()
    wait_for(lambda: DataExport.objects.filter(owner=user, status="ready").first())
    page.reload()
    expect(page.get_by_role("link", name="Download the zip")).to_be_visible()
    export = DataExport.objects.get(owner=user)
    assert export.files_count == 2
    page.goto(f"{base}/account/delete/")
    page.fill("#delete-password", PASSWORD)
    page.get_by_label("I understand that everything is deleted for good").check()
    page.get_by_role("button", name="Delete my account").click()
    page.wait_for_url(f"{base}/")
    remaining = [image.file for image in fox.images.all()] + [export.file]
    wait_for(lambda: User.objects.get(pk=user.pk).email == f"deleted-{user.pk}@deleted.invalid", timeout=60)
    assert [p for p in remaining if (live.media_root / p).exists()] == []
    leftovers = [p for folder in ("generations", "uploads", "exports")
                 for p in (live.media_root / folder / str(user.pk)).rglob("*") if p.is_file()]
    assert leftovers == []
    report = credits_reconcile()
    assert report["balance_mismatches"] == report["settlement_mismatches"] == report["spend_mismatches"] == []
    context.close()
    assert problems == [], problems
