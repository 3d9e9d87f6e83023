"""Sharing in the browser: a user makes an image public, a signed-out visitor finds it on /explore
and on the artist's page, and another user remixes it. Every page is looked at on a desktop and a
phone screen, and none may log an error to the console."""

import uuid

import pytest
from playwright.sync_api import Page, expect

from apps.gallery.models import Share
from apps.generations.models import Generation
from tests.browser import chromium

from .conftest import PASSWORD

pytestmark = [pytest.mark.live, pytest.mark.browser]

SCREENSHOTS = "/tmp/darkroom-gallery"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def open_page(browser, *, size="desktop") -> Page:
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text}"))
    page.on("response", lambda r: r.status >= 400 and page.problems.append(f"{r.status} {r.url}"))
    return page


def close(page: Page) -> None:
    page.context.close()
    assert page.problems == [], page.problems


def sign_up(page: Page, base_url: str, name: str) -> str:
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(f"{base_url}/accounts/signup/")
    page.fill("#id_email", email)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base_url}/")
    return email


def test_share_publicly_find_it_signed_out_and_remix_it(live, browser):
    base = live.base_url
    # The artist makes an image and shares it publicly from its page.
    artist = open_page(browser)
    email = sign_up(artist, base, "artist")
    artist.goto(f"{base}/account/")
    artist.fill("#id_handle", f"lighthouse-{uuid.uuid4().hex[:6]}")
    artist.fill("#id_bio", "Lighthouses, mostly at dusk.")
    artist.locator("input[name=link0]").fill("https://example.com/portfolio")
    artist.get_by_role("button", name="Save profile").click()
    expect(artist.locator(".message")).to_have_text("Saved.")
    handle = artist.input_value("#id_handle")
    artist.screenshot(path=f"{SCREENSHOTS}-settings-desktop.png", full_page=True)
    artist.goto(f"{base}/")
    artist.fill("#id_prompt", "a lighthouse on a cliff at dusk")
    artist.get_by_role("button", name="Generate").click()
    card = artist.locator("#recent article.card").first
    expect(card).to_have_attribute("data-status", "succeeded", timeout=60_000)
    generation = Generation.objects.get(owner__email=email)
    artist.goto(f"{base}/generations/{generation.id}/")
    artist.get_by_label("Public — on Explore and your page").check()
    artist.get_by_role("button", name="Save sharing").click()
    expect(artist.locator(".share-link")).to_contain_text("Public:")
    share = Share.objects.get(owner__email=email)
    assert share.visibility == "public"
    close(artist)

    # A signed-out visitor, in a browser of their own, finds it on /explore and on the artist's page.
    for size in SIZES:
        visitor = open_page(browser, size=size)
        visitor.goto(f"{base}/explore")
        tile = visitor.locator(f'a.gtile[href="/i/{share.token}"]')
        expect(tile).to_be_visible()
        assert "data:image/png;base64," in tile.get_attribute("style")  # the BlurHash placeholder
        expect(tile.locator("img")).to_have_js_property("complete", True)
        visitor.screenshot(path=f"{SCREENSHOTS}-explore-{size}.png", full_page=True)
        tile.click()
        visitor.wait_for_url(f"{base}/i/{share.token}")
        expect(visitor.locator("dd").first).to_have_text("a lighthouse on a cliff at dusk")
        og = visitor.locator('meta[property="og:image"]').get_attribute("content")
        assert f"/s/{share.token}/" in og
        visitor.screenshot(path=f"{SCREENSHOTS}-image-{size}.png", full_page=True)
        visitor.get_by_role("link", name=f"@{handle}").click()
        visitor.wait_for_url(f"{base}/u/{handle}")
        expect(visitor.locator(f'a.gtile[href="/i/{share.token}"]')).to_be_visible()
        expect(visitor.locator(".bio")).to_have_text("Lighthouses, mostly at dusk.")
        visitor.screenshot(path=f"{SCREENSHOTS}-artist-{size}.png", full_page=True)
        for path, name in (("/models", "models"), ("/pricing", "pricing"), ("/", "landing")):
            visitor.goto(base + path)
            visitor.screenshot(path=f"{SCREENSHOTS}-{name}-{size}.png", full_page=True)
        expect(visitor.locator(f'a.gtile[href="/i/{share.token}"]')).to_be_visible()  # the landing's strip
        close(visitor)

    # Someone else remixes it: the form opens with its prompt, and generating makes their own image.
    fan = open_page(browser)
    fan_email = sign_up(fan, base, "fan")
    fan.goto(f"{base}/i/{share.token}")
    fan.get_by_role("button", name="♥ Like · 0").click()
    expect(fan.locator(".like-form button")).to_have_text("♥ Liked · 1")
    fan.get_by_role("link", name="Remix").click()
    fan.wait_for_url(f"{base}/?remix={share.token}")
    expect(fan.locator("#id_prompt")).to_have_value("a lighthouse on a cliff at dusk")
    fan.get_by_role("button", name="Generate").click()
    expect(fan.locator("#recent article.card").first).to_have_attribute("data-status", "succeeded", timeout=60_000)
    assert Generation.objects.get(owner__email=fan_email).prompt == "a lighthouse on a cliff at dusk"
    close(fan)
