"""The review in headless Chromium on the real stack (daphne + Celery): a new user's generation gets
its verdict badge live and its reasons open on click; a flagged image is withheld, or blurred with
a reveal when the owner chooses; a blocked prompt is refused in the form. No console errors.
Screenshots at 1280×800 and 390×844 land in var/test-artifacts/screenshots/review-*.png."""

import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from apps.accounts.models import User
from apps.generations.models import Generation
from apps.review.models import ReviewPolicy
from tests.browser import chromium
from tests.e2e.conftest import PASSWORD, ROOT

pytestmark = [pytest.mark.live, pytest.mark.browser]
SCREENSHOTS = Path(ROOT) / "var" / "test-artifacts" / "screenshots"


def settled(user, count: int, timeout: float = 30) -> list[Generation]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        generations = list(Generation.objects.filter(owner=user).order_by("created_at"))
        if len(generations) >= count and all(not g.is_active for g in generations):
            return generations
        time.sleep(0.1)
    pytest.fail("generations did not finish")


def reviewed(generation, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        review = generation.reviews.first()
        if review is not None and review.reviewed_at is not None:
            return review
        time.sleep(0.1)
    pytest.fail("the judges did not finish")


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_verdict_badge_reasons_flagged_images_and_blocked_prompts(live, size):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tag = f"{size[0]}x{size[1]}"
    with chromium() as browser:
        context = browser.new_context(viewport={"width": size[0], "height": size[1]})
        context.set_default_timeout(20_000)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
        base = live.base_url
        email = f"review-{uuid.uuid4().hex[:10]}@example.com"
        page.goto(f"{base}/accounts/signup/")
        page.fill("#id_email", email)
        page.fill("#id_password1", PASSWORD)
        page.fill("#id_password2", PASSWORD)
        page.locator("main form button[type=submit]").click()
        page.wait_for_url(f"{base}/")
        user = User.objects.get(email=email)

        # 1. The badge arrives live, after the image, and its reasons open on click.
        page.fill("#id_prompt", "a lighthouse in fog")
        page.get_by_role("button", name="Generate").click()
        badge = page.locator("#recent article.card .review-badge")
        expect(badge).to_have_count(1)
        [generation] = settled(user, 1)
        verdict = reviewed(generation).verdict
        assert verdict in ("green", "amber", "red")
        expect(badge).to_have_attribute("data-verdict", verdict)
        badge.locator("summary").click()
        reasons = badge.locator(".review-reasons li")
        expect(reasons).to_have_count(3)
        expect(reasons.first).to_be_visible()
        expect(reasons.first).to_contain_text("Safety")
        expect(reasons.first).to_contain_text("No adult content was found.")
        page.screenshot(path=str(SCREENSHOTS / f"review-badge-{tag}.png"))

        # 2. An image the safety judge flags is withheld (the default), never drawn plainly.
        ReviewPolicy.objects.update_or_create(pk=1, defaults={"thresholds": {"nsfw_max": 0.0}})
        page.fill("#id_prompt", "a lighthouse at night")
        page.get_by_role("button", name="Generate").click()
        flagged = settled(user, 2)[1]
        card = page.locator(f"#gen-{flagged.pk}")
        expect(card.locator(".withheld")).to_have_count(1)
        expect(card.locator("img.result")).to_have_count(0)
        page.screenshot(path=str(SCREENSHOTS / f"review-withheld-{tag}.png"))

        # 3. The owner chooses "blurred": the image is blurred until they reveal it.
        page.goto(f"{base}/account/safety/")
        page.screenshot(path=str(SCREENSHOTS / f"review-safety-settings-{tag}.png"), full_page=True)
        page.get_by_label("Show them blurred; I can reveal each one").check()
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_label("Show them blurred; I can reveal each one")).to_be_checked()
        page.goto(f"{base}/generations/{flagged.pk}/")
        image = page.locator("img.result.flagged")
        expect(image).to_have_count(1)
        assert "blur" in image.evaluate("el => getComputedStyle(el).filter")
        page.screenshot(path=str(SCREENSHOTS / f"review-blurred-{tag}.png"))
        page.get_by_text("Show the flagged image").click()
        assert image.evaluate("el => getComputedStyle(el).filter") == "none"

        # 4. A blocked prompt is refused in the form, and nothing is made.
        ReviewPolicy.objects.filter(pk=1).update(thresholds={})
        page.goto(f"{base}/")
        page.fill("#id_prompt", "a shit sandwich")
        page.get_by_role("button", name="Generate").click()
        expect(page.get_by_role("alert").filter(has_text="This prompt can't be used here")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / f"review-blocked-{tag}.png"))
        assert Generation.objects.filter(owner=user).count() == 2
        context.close()
    assert problems == [], problems
