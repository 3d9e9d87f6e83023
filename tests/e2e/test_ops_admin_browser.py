"""The ops console in headless Chromium against the live stack (daphne + Celery): a staff member
pastes a provider key in the admin and the hosted model is offered on the generate page at once,
with no restart; staff mark a model coming soon; the costs page renders. Screenshots of each page
(desktop and phone) land in var/test-artifacts/screenshots/."""

import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from playwright.sync_api import expect

from apps.accounts.models import User
from apps.catalog.models import CatalogModel
from apps.core.models import StaffAction
from apps.providers.credentials import CACHE_KEY
from apps.providers.models import ProviderCredential
from tests.browser import chromium

from .conftest import PASSWORD, ROOT

pytestmark = [pytest.mark.live, pytest.mark.browser]

SCREENSHOTS = Path(ROOT) / "var" / "test-artifacts" / "screenshots"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
KEY = "r8_pasted_in_the_admin_4821"


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def signed_in_staff(browser, base: str, size: str):
    """A superuser signed in to the admin, in a new browser context of `size`."""
    staff = User.objects.create_superuser(email=f"ops-{uuid.uuid4().hex[:8]}@example.com")
    # Hashed as the live stack's production settings check it (the test settings hash with MD5).
    staff.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    staff.save(update_fields=["password"])
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", staff.email)
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{base}/admin/")
    return context, page, staff


def shot(page, name: str, size: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)


# One journey, at desktop size: saving in the admin writes a LogEntry with a content type id the
# live web process caches, and the tables (content types included) are re-created between tests.
# The phone-size screenshots of the same pages come at the end, read-only.
def test_staff_paste_a_key_mark_a_model_coming_soon_and_see_costs_without_a_restart(live, browser):
    base = live.base_url
    row, _ = ProviderCredential.objects.get_or_create(provider="replicate")
    model = CatalogModel.objects.get(slug="offline-studio")
    # The live stack's tables are emptied between tests behind the services' back: its shared cache
    # may still hold a key stored by an earlier test, so start from an empty one.
    redis.Redis.from_url(live.redis_url).delete(f"{django_settings.CACHES['default']['KEY_PREFIX']}:1:{CACHE_KEY}")
    context, page, staff = signed_in_staff(browser, base, "desktop")
    try:
        page.goto(f"{base}/")
        flux = page.locator("#id_model option[value='flux-dev']")
        expect(flux).to_have_attribute("disabled", "")  # read (and cached) by the web process
        page.goto(f"{base}/admin/providers/providercredential/{row.pk}/change/")
        expect(page.locator(".field-stored_key .readonly")).to_have_text("not set")
        page.fill("#id_new_key", KEY)
        page.get_by_role("button", name="Save", exact=True).click()
        page.wait_for_url(f"{base}/admin/providers/providercredential/")
        # The key was tried at once (this closed network has no route to the provider's API).
        expect(page.locator(".messagelist")).to_contain_text("Replicate: Could not reach the provider")
        expect(page.locator("#result_list")).to_contain_text("set, ending …4821")
        assert KEY not in page.content()
        shot(page, "admin-provider-keys", "desktop")

        page.goto(f"{base}/")
        flux = page.locator("#id_model option[value='flux-dev']")
        expect(flux).not_to_have_attribute("disabled", "")
        expect(flux).to_have_text("FLUX Dev")
        [action] = StaffAction.objects.filter(actor=staff)
        assert (action.action, action.changes) == ("credentials.set", {"key": ["not set", "set, ending …4821"]})

        page.goto(f"{base}/admin/catalog/catalogmodel/{model.pk}/change/")
        page.check("#id_coming_soon")
        page.fill("#id_coming_soon_note", "Back next week")
        page.fill("#id_tiers", "[{not json")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".errorlist")).to_contain_text("Enter a valid JSON.")
        page.fill("#id_tiers", '[{"key": "standard", "label": "Standard", "area": 1048576, "price": 4}]')
        page.get_by_role("button", name="Save", exact=True).click()
        page.wait_for_url(f"{base}/admin/catalog/catalogmodel/")
        shot(page, "admin-catalogue", "desktop")
        model.refresh_from_db()
        assert (model.coming_soon, model.tiers[0]["price"], model.staff_overrides) == (True, 4, ["tiers"])

        page.goto(f"{base}/")
        expect(page.locator("#id_model option[value='offline-studio']")).to_have_text(
            "Offline Studio — coming soon: Back next week")
        expect(page.locator("#id_model option[value='offline-studio']")).to_have_attribute("disabled", "")
    finally:
        context.close()

    pages = {
        "admin-provider-key": f"/admin/providers/providercredential/{row.pk}/change/",
        "admin-catalogue-model": f"/admin/catalog/catalogmodel/{model.pk}/change/",
        "admin-costs": "/admin/credits/costreport/?days=7",
        "generate-coming-soon": "/",
    }
    for size in SIZES:
        context = browser.new_context(viewport=dict(zip(("width", "height"), SIZES[size], strict=True)))
        page = context.new_page()
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", staff.email)
        page.fill("#id_password", PASSWORD)
        page.locator("input[type=submit]").click()
        page.wait_for_url(f"{base}/admin/")
        for name, path in pages.items():
            response = page.goto(f"{base}{path}")
            assert response is not None and response.status == 200, name
            shot(page, name, size)
        expect(page.locator("#id_model option[value='flux-dev']")).not_to_have_attribute("disabled", "")
        page.goto(f"{base}/admin/credits/costreport/?days=7")
        expect(page.locator("h1")).to_have_text("Costs & margin")
        context.close()
