"""A new user's first hour in headless Chromium: the form never eats a submit, numbers agree,
the credits history reads as one row per job, and no page logs an error to the console."""

import uuid

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.catalog.models import dimensions_for
from apps.generations.models import Generation
from tests.browser import chromium

from .conftest import PASSWORD

pytestmark = [pytest.mark.live, pytest.mark.browser]

SCREENSHOTS = "/tmp/darkroom-first-hour"
WS_OPEN_PROBE = (
    "document.addEventListener('htmx:wsOpen', () => { window.__wsOpened = (window.__wsOpened || 0) + 1; });"
)


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def open_page(browser, *, width=1280, height=800):
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.add_init_script(WS_OPEN_PROBE)
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    # htmx reports its misses (selectors, out-of-band targets) as console errors.
    page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text}"))
    page.on("response", lambda r: r.status >= 400 and page.problems.append(f"{r.status} {r.url}"))
    return page


@pytest.fixture
def page(browser):
    page = open_page(browser)
    yield page
    page.context.close()
    assert page.problems == [], page.problems


def sign_up(page: Page, base_url: str) -> User:
    email = f"first-hour-{uuid.uuid4().hex[:10]}@example.com"
    page.goto(f"{base_url}/accounts/signup/")
    page.fill("#id_email", email)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base_url}/")
    page.wait_for_function("() => window.__wsOpened > 0", timeout=10_000)
    return User.objects.get(email=email)


def test_editing_seed_never_eats_the_generate_click(live, page):
    user = sign_up(page, live.base_url)
    cards = page.locator("#recent article.card")

    page.fill("#id_prompt", "a lighthouse in fog")
    page.fill("#id_seed", "42")
    # The click blurs the seed field, whose change asks for a fresh price at that very moment.
    page.get_by_role("button", name="Generate").click()
    expect(cards).to_have_count(1)

    page.fill("#id_seed", "7")
    page.press("#id_seed", "Enter")
    expect(cards).to_have_count(2)
    page.wait_for_timeout(300)  # nothing else lands
    assert sorted(Generation.objects.filter(owner=user).values_list("seed", flat=True)) == ["42", "7"]
    page.screenshot(path=f"{SCREENSHOTS}-generate.png", full_page=True)


def test_sizes_follow_the_aspect_ratio_and_fixed_fields_stop_being_highlighted(live, page):
    sign_up(page, live.base_url)
    page.select_option("#id_tier", "standard")
    size = page.locator("#id_tier option:checked")
    expect(size).to_contain_text("1024×1024")
    page.locator("label.ratio", has_text="16:9").click()
    width, height = dimensions_for(aspect_ratio="16:9", area=1024 * 1024)
    expect(size).to_contain_text(f"{width}×{height}")
    expect(size).not_to_contain_text("1024×1024")

    page.get_by_role("button", name="Generate").click()  # no prompt yet
    banner = page.locator("#generate-form .error.banner")
    expect(banner).to_have_text("Please check the highlighted fields.")
    expect(page.locator(".field.invalid")).to_have_count(1)
    # The answer keeps the chosen ratio, and the sizes still agree with it.
    expect(page.locator("input[name=aspect_ratio][value='16:9']")).to_be_checked()
    expect(size).to_contain_text(f"{width}×{height}")

    page.fill("#id_prompt", "a quiet harbour")
    expect(banner).to_have_count(0)
    expect(page.locator(".field.invalid")).to_have_count(0)
    expect(page.locator(".field-errors")).to_have_count(0)

    page.fill("#id_seed", "twelve")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator(".field.invalid[data-field=seed]")).to_have_count(1)
    expect(banner).to_be_visible()
    page.fill("#id_seed", "twelve1")
    expect(banner).to_be_visible()  # still not a number
    page.fill("#id_seed", "12")
    expect(banner).to_have_count(0)
    expect(page.locator(".field.invalid")).to_have_count(0)
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#recent article.card")).to_have_count(1)
    expect(banner).to_have_count(0)


def test_a_new_account_is_welcomed_and_finds_its_way_around(live, page):
    sign_up(page, live.base_url)
    expect(page.locator(".messages")).to_have_count(0)  # no "Successfully signed in as …"
    welcome = page.get_by_role("region", name="Welcome to Darkroom")
    expect(welcome).to_contain_text("offline engine")
    expect(welcome).to_contain_text("Hosted models")
    examples = welcome.locator("[data-example-prompt]")
    expect(examples).to_have_count(3)
    examples.nth(1).click()
    expect(page.locator("#id_prompt")).to_have_value("a lighthouse on a cliff in a summer storm")
    expect(page.locator("#id_prompt")).to_be_focused()
    page.screenshot(path=f"{SCREENSHOTS}-welcome.png", full_page=True)

    page.reload()
    expect(page.get_by_role("region", name="Welcome to Darkroom")).to_have_count(0)  # once only

    account = page.locator("details.account-menu")
    expect(account.get_by_role("link", name="API keys")).to_be_hidden()
    account.locator("summary").click()
    for name in ("Credits", "API keys", "Webhooks", "Password"):
        expect(account.get_by_role("link", name=name)).to_be_visible()
    expect(account.get_by_role("button", name="Log out")).to_be_visible()
    page.screenshot(path=f"{SCREENSHOTS}-account-menu.png")
    account.get_by_role("link", name="API keys").click()

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.fill("#id_name", "my script")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("New API key").input_value()
    copy = page.get_by_role("button", name="Copy")
    copy.click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == secret


FITS = """() => {
  const width = document.documentElement.clientWidth;
  const out = [...document.querySelectorAll('select, input, textarea, button')]
    .filter(el => el.offsetParent !== null)
    .map(el => [el.id || el.name || el.textContent.trim(), el.getBoundingClientRect()])
    .filter(([, box]) => box.left < 0 || box.right > width + 0.5)
    .map(([name, box]) => `${name}: ${Math.round(box.left)}..${Math.round(box.right)}`);
  return {scroll: document.documentElement.scrollWidth, width, out};
}"""


def test_on_a_phone_the_navigation_folds_behind_a_menu_button(live, browser):
    page = open_page(browser, width=390, height=844)
    sign_up(page, live.base_url)
    nav = page.get_by_role("navigation", name="Main")
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav.get_by_role("link", name="My images")).to_be_hidden()
    header = page.locator("header.topbar").bounding_box()
    assert header["height"] < 80, f"the header takes {header['height']} px of the phone's height"
    # Nothing sticks out sideways: the form's selects fit the screen.
    page.select_option("#id_tier", "standard")
    fits = page.evaluate(FITS)
    assert fits["out"] == [] and fits["scroll"] <= fits["width"], fits
    page.screenshot(path=f"{SCREENSHOTS}-phone.png", full_page=True)

    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="My images")).to_be_visible()
    page.screenshot(path=f"{SCREENSHOTS}-phone-menu.png")
    nav.get_by_role("link", name="My images").click()
    page.wait_for_url(f"{live.base_url}/images/")
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")
    page.context.close()
    assert page.problems == [], page.problems


def test_the_admin_has_its_favicon(live, page):
    user = sign_up(page, live.base_url)
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    page.goto(f"{live.base_url}/admin/")
    expect(page.get_by_role("heading", name="Operations", level=1)).to_be_visible()
    page.goto(f"{live.base_url}/admin/credits/ledgerentry/")
    page.wait_for_load_state("networkidle")
    # The fixture fails the test on any 4xx, including /favicon.ico.
