"""A person in headless Chromium: sign up, generate, watch the picture form, find it again.

Drives Debian's chromium (Playwright's own browser download is not used) against the live
daphne + Celery processes from conftest.py.
"""

import re
import time
import uuid

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.credits.models import LedgerEntry
from apps.credits.selectors import credits_balance_get
from apps.generations.models import Generation
from tests.browser import chromium

from .conftest import PASSWORD

pytestmark = [pytest.mark.live, pytest.mark.browser]

SCREENSHOT = "/tmp/darkroom-journey.png"
SETTLE_TIMEOUT = 30  # seconds for a generation to reach a terminal state
TERMINAL = {"succeeded", "failed", "canceled", "rejected"}
# Counts htmx's websocket openings, so the test submits only once live updates can arrive.
WS_OPEN_PROBE = (
    "document.addEventListener('htmx:wsOpen', () => { window.__wsOpened = (window.__wsOpened || 0) + 1; });"
)
CARD_STATE = """id => {
  const card = document.getElementById(id);
  if (!card) return null;
  const bar = card.querySelector('.progress span');
  return {status: card.dataset.status, width: bar ? bar.style.width : null};
}"""


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.add_init_script(WS_OPEN_PROBE)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def sign_up(page: Page, base_url: str) -> str:
    email = f"journey-{uuid.uuid4().hex[:10]}@example.com"
    page.goto(f"{base_url}/accounts/signup/")
    page.fill("#id_email", email)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base_url}/")
    expect(page.get_by_role("heading", name="Generate")).to_be_visible()
    return email


def submit_prompt(page: Page, prompt: str) -> tuple[int, str]:
    """Fill the form, read the quoted price, press Generate; return (price, the new card's id)."""
    page.wait_for_function("() => window.__wsOpened > 0", timeout=10_000)  # a function: the CSP forbids eval
    page.fill("#id_prompt", prompt)
    # Offline Sketch is the first model in the catalogue, so the form comes with it selected
    # (choosing it again would only re-render the same options).
    expect(page.locator("#id_model")).to_have_value("offline-sketch")
    expect(page.locator("#id_model option:checked")).to_have_text("Offline Sketch")
    quote = page.locator("#quote").inner_text()
    match = re.fullmatch(r"Price: (\d+) credits?", quote.strip())
    assert match, f"unreadable quote: {quote!r}"
    price = int(match.group(1))
    assert price == 1  # offline-sketch, draft, one image

    expect(page.locator("#recent article.card")).to_have_count(0)
    page.get_by_role("button", name="Generate").click()
    card = page.locator("#recent article.card")
    expect(card).to_have_count(1)
    card_id = card.get_attribute("id")
    assert card_id and card_id.startswith("gen-"), card_id
    return price, card_id


def watch_card(page: Page, card_id: str) -> tuple[str, list[float]]:
    """Sample the card's progress bar until it reaches a terminal state; return (status, widths)."""
    widths = []
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        state = page.evaluate(CARD_STATE, card_id)
        assert state is not None, f"card {card_id} disappeared"
        if state["width"]:
            widths.append(float(state["width"].removesuffix("%")))
        if state["status"] in TERMINAL:
            return state["status"], widths
        page.wait_for_timeout(10)
    pytest.fail(f"card {card_id} still {state['status']} after {SETTLE_TIMEOUT} s; progress seen: {widths}")


def test_sign_up_generate_and_watch_the_image_form(live, page):
    base = live.base_url
    email = sign_up(page, base)
    expect(page.locator(".balance-value")).to_have_text("100")
    expect(page.locator("#recent-empty")).to_be_visible()

    price, card_id = submit_prompt(page, "a red sun over a quiet sea at night")
    # The hold is taken at once: the header drops by the price with the submit response.
    expect(page.locator(".balance-value")).to_have_text(str(100 - price))

    status, widths = watch_card(page, card_id)
    assert status == "succeeded", status
    intermediate = sorted({w for w in widths if 0 < w < 100})
    assert len(intermediate) >= 2, f"the progress bar did not move through the middle: {widths}"
    assert widths == sorted(widths), f"the progress bar went backwards: {widths}"

    card = page.locator(f"#{card_id}")
    expect(card).to_have_attribute("data-status", "succeeded")
    expect(card.locator(".status-text.ok")).to_contain_text("Done")
    expect(card.locator(".progress")).to_have_count(0)
    image = card.locator("img.result")
    expect(image).to_have_count(1)
    expect(image).to_be_visible()
    page.wait_for_function(
        "el => el.complete && el.naturalWidth > 0", arg=image.element_handle(), timeout=10_000
    )
    assert image.evaluate("el => el.naturalWidth") > 0
    expect(page.locator(".balance-value")).to_have_text(str(100 - price))
    page.screenshot(path=SCREENSHOT.replace(".png", "-generate.png"), full_page=True)

    user = User.objects.get(email=email)
    generation = Generation.objects.get(owner=user)
    assert f"gen-{generation.id}" == card_id
    assert (generation.status, generation.quoted_credits) == ("succeeded", price)
    assert sorted(LedgerEntry.objects.filter(user=user).values_list("kind", "amount")) == [
        ("capture", 0), ("grant", 100), ("reserve", -price),
    ]
    assert credits_balance_get(user=user) == 100 - price

    page.get_by_role("link", name="My images").click()
    page.wait_for_url(f"{base}/images/")
    expect(page.get_by_role("heading", name="My images")).to_be_visible()
    listed = page.locator(f"#{card_id}")
    expect(listed).to_have_attribute("data-status", "succeeded")
    expect(listed.locator(f'a.card-media[href="/generations/{generation.id}/"]')).to_be_visible()
    listed_image = listed.locator("img.result")
    expect(listed_image).to_be_visible()
    page.wait_for_function(
        "el => el.complete && el.naturalWidth > 0", arg=listed_image.element_handle(), timeout=10_000
    )
    expect(page.locator(".balance-value")).to_have_text(str(100 - price))
    page.screenshot(path=SCREENSHOT, full_page=True)


def test_failed_generation_explains_itself_and_returns_the_credits(failing, page):
    base = failing.base_url
    email = sign_up(page, base)
    expect(page.locator(".balance-value")).to_have_text("100")

    price, card_id = submit_prompt(page, "a storm over the harbour")
    status, widths = watch_card(page, card_id)
    assert status == "failed", status
    # The engine fails midway (step 6 of 12), so the bar moved before the error.
    assert any(0 < w < 100 for w in widths), f"no progress shown before the failure: {widths}"

    card = page.locator(f"#{card_id}")
    expect(card).to_have_attribute("data-status", "failed")
    expect(card.locator(".progress")).to_have_count(0)
    expect(card.locator("img.result")).to_have_count(0)
    error = card.locator(".error")
    expect(error).to_be_visible()
    message = error.inner_text().strip()
    assert message == "The offline engine failed while drawing this image. You were not charged."
    for internal in ("Traceback", "Exception", "procedural-sketch-v1", "engine_failure", "OfflineEngine"):
        assert internal not in message, f"{internal!r} leaks into the error shown: {message!r}"

    user = User.objects.get(email=email)
    generation = Generation.objects.get(owner=user)
    assert (generation.status, generation.error_code) == ("failed", "engine_failure")
    assert sorted(LedgerEntry.objects.filter(user=user).values_list("kind", "amount")) == [
        ("grant", 100), ("release", price), ("reserve", -price),
    ]
    assert credits_balance_get(user=user) == 100
    # The header follows the returned credits without a reload.
    expect(page.locator(".balance-value")).to_have_text("100")
    page.screenshot(path=SCREENSHOT.replace(".png", "-failed.png"), full_page=True)
