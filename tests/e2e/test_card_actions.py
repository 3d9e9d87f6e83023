"""A failed card's "Try again" in headless Chromium: the same request lands as a new card beside it."""

import uuid

import pytest
from playwright.sync_api import expect

from apps.accounts.models import User
from apps.generations.models import Generation
from tests.browser import chromium

from .conftest import PASSWORD

pytestmark = [pytest.mark.live, pytest.mark.browser]


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def test_a_failed_card_is_tried_again_with_one_click(failing, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.add_init_script(
        "document.addEventListener('htmx:wsOpen', () => { window.__wsOpened = (window.__wsOpened || 0) + 1; });"
    )
    base = failing.base_url
    email = f"retry-{uuid.uuid4().hex[:10]}@example.com"
    page.goto(f"{base}/accounts/signup/")
    page.fill("#id_email", email)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base}/")
    page.wait_for_function("() => window.__wsOpened > 0", timeout=10_000)

    page.fill("#id_prompt", "a storm over the harbour")
    page.fill("#id_seed", "5")
    page.get_by_role("button", name="Generate").click()
    cards = page.locator("#recent article.card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-status", "failed", timeout=30_000)
    retry = cards.first.get_by_role("button", name="Try again · 1 credit")
    expect(retry).to_be_visible()
    retry.click()
    expect(cards).to_have_count(2)
    user = User.objects.get(email=email)
    first, second = Generation.objects.filter(owner=user).order_by("created_at")
    assert cards.nth(0).get_attribute("id") == f"gen-{second.id}"  # the new one, just before the failed one
    assert (second.prompt, second.seed, second.params) == (first.prompt, "5", first.params)
    context.close()
    assert problems == [], problems
