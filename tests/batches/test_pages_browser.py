"""The batches page in headless Chromium: the price follows the prompts, the count and the sweep as
they are typed, before "Start batch"."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from apps.batches.models import Batch
from tests.browser import chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalog")]


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}])
def test_the_price_follows_the_form_before_starting(live_server, user, viewport):
    client = Client()
    client.force_login(user)
    with chromium() as browser:
        context = browser.new_context(base_url=live_server.url, viewport=viewport)
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                              "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(10_000)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/batches/")
        quote = page.locator("#batch-quote")
        expect(quote).to_have_text("The price shows here before you start.")
        page.fill("#id_prompts", "a kite\na fox")
        expect(quote).to_have_text("2 generations · Price: 2 credits of your 100")
        page.select_option("#id_num_images", "2")
        expect(quote).to_have_text("2 generations · 4 images · Price: 4 credits of your 100")
        page.click("text=Sweep: vary settings")
        page.select_option("#id_sweep-0-field", "seed")
        page.fill("#id_sweep-0-values", "1 | 2")
        expect(quote).to_have_text("4 generations · 8 images · Price: 8 credits of your 100")
        page.screenshot(path=f"/tmp/batches-{viewport['width']}.png", full_page=True)
        page.click("button:text-is('Start batch')", timeout=60_000)  # the generations run at commit in tests
        expect(page.locator("#batch-progress")).to_be_visible()
        page.screenshot(path=f"/tmp/batch-detail-{viewport['width']}.png", full_page=True)
        assert errors == [], errors
    batch = Batch.objects.get()
    assert (batch.source, batch.total, batch.quoted_credits) == ("sweep", 4, 8)
