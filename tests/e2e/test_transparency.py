"""Transparent images (a cut-out, a PNG with alpha) sit on a checkerboard once loaded, never over
their own blurred placeholder: the photo card, the photo's page and a generation's card (workflow outputs, which have no
placeholder, always sit on one)."""

import uuid

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from tests.browser import chromium

from .conftest import PASSWORD

pytestmark = [pytest.mark.live, pytest.mark.browser]

# What shows behind an element once its image has loaded: its background image, or the frame's.
BEHIND = """el => {
  const img = el.tagName === 'IMG' ? el : el.querySelector('img');
  return new Promise(resolve => {
    const read = () => requestAnimationFrame(() => resolve(getComputedStyle(el).backgroundImage));
    if (img.complete && img.naturalWidth) read(); else img.addEventListener('load', read, {once: true});
  });
}"""


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def assert_checkerboard(locator):
    behind = locator.evaluate(BEHIND)
    assert "data:image" not in behind, f"the blurred placeholder shows through: {behind[:80]}"
    assert "conic-gradient" in behind, behind[:200]


def test_transparent_images_sit_on_a_checkerboard(live, browser, tmp_path):
    cutout = tmp_path / "cutout.png"
    image = Image.new("RGBA", (320, 240), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((60, 40, 260, 200), fill=(220, 40, 40, 255))
    image.save(cutout)

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    base = live.base_url
    page.goto(f"{base}/accounts/signup/")
    page.fill("#id_email", f"alpha-{uuid.uuid4().hex[:10]}@example.com")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/photos/")
    page.set_input_files("#id_file", str(cutout))
    page.locator("#upload-form button[type=submit]").click()
    page.wait_for_url(f"{base}/photos/**/edit/")
    assert_checkerboard(page.locator(".mask-stage"))

    page.goto(f"{base}/photos/")
    card = page.locator("a.card-media.blur-frame").first
    expect(card).to_be_visible()
    assert_checkerboard(card)

    # A generation's card: its placeholder gives way the same way (an opaque image hides the squares).
    page.goto(f"{base}/")
    page.fill("#id_prompt", "a paper lantern")
    page.get_by_role("button", name="Generate").click()
    result = page.locator("#recent article.card img.result")
    expect(result).to_be_visible(timeout=30_000)
    assert_checkerboard(result)
    page.goto(f"{base}/images/")
    assert_checkerboard(page.locator("article.card img.result").first)
    context.close()
    assert problems == [], problems
