"""The webhooks page in headless Chromium: the event checkboxes are a compact list, each box beside
its label, not stretched across the form."""

import pytest
from django.test import Client

from tests.browser import chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}])
def test_event_checkboxes_sit_beside_their_labels(live_server, user, viewport):
    client = Client()
    client.force_login(user)
    with chromium() as browser:
        context = browser.new_context(base_url=live_server.url, viewport=viewport)
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                              "url": live_server.url}])
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/account/webhooks/")
        boxes = page.locator("fieldset input[type=checkbox]")
        assert boxes.count() >= 5
        for index in range(boxes.count()):
            box = boxes.nth(index).bounding_box()
            name = boxes.nth(index).locator("xpath=..").locator("code").bounding_box()
            assert box["width"] < 30, box
            assert 0 <= name["x"] - (box["x"] + box["width"]) < 24, (box, name)  # the name right beside it
            assert abs((name["y"] + name["height"] / 2) - (box["y"] + box["height"] / 2)) < 12  # on its line
        page.screenshot(path=f"/tmp/webhooks-{viewport['width']}.png", full_page=True)
        assert errors == []
