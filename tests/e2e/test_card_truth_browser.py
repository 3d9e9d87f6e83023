"""In headless Chromium: a finished card says how long the person waited, shows the delivered
file's size and no note about a wait that is over — live at the end and after a reload, at desktop
and phone widths.

Set DARKROOM_SCREENSHOTS to a folder to keep the pictures of the cards (outside the repository)."""

import os
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.accounts.models import User
from apps.generations.models import Generation
from apps.generations.services.state import SLOW_NOTE
from tests.browser import chromium

from .test_browser_journey import WS_OPEN_PROBE, sign_up, submit_prompt, watch_card

pytestmark = [pytest.mark.live, pytest.mark.browser]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def screenshot(page, name: str) -> None:
    folder = os.environ.get("DARKROOM_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def done_seconds(text: str) -> float:
    match = re.fullmatch(r"Done in ([\d.]+) s", text.strip())
    assert match, f"unexpected status text: {text!r}"
    return float(match.group(1))


def test_a_finished_card_tells_the_wait_the_size_and_no_stale_note(live):
    with chromium() as browser:
        context = browser.new_context(viewport=DESKTOP)
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.add_init_script(WS_OPEN_PROBE)
        email = sign_up(page, live.base_url)
        _, card_id = submit_prompt(page, "a paper boat on a puddle")
        status, _ = watch_card(page, card_id)
        assert status == "succeeded"

        generation = Generation.objects.get(owner=User.objects.get(email=email))
        waited = (generation.finished_at - generation.created_at).total_seconds()
        image = generation.images.get()
        # The live card at the end: the person's wait, not the engine's share of it.
        live_card = page.locator(f"#{card_id}")
        assert abs(done_seconds(live_card.locator(".status-text.ok").inner_text()) - waited) <= 0.05
        expect(live_card.locator(".meta")).to_contain_text(f"{image.width}×{image.height}")

        # The job had been slow on its way: the note stays in its history, not on the finished card.
        Generation.objects.filter(pk=generation.pk).update(
            notes=[SLOW_NOTE], revision=generation.revision + 1, updated_at=timezone.now()
        )
        for viewport, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
            page.set_viewport_size(viewport)
            page.goto(f"{live.base_url}/images/")
            card = page.locator(f"#{card_id}")
            expect(card).to_have_attribute("data-status", "succeeded")
            assert abs(done_seconds(card.locator(".status-text.ok").inner_text()) - waited) <= 0.05
            expect(card.locator(".meta")).to_contain_text(f"{image.width}×{image.height}")
            expect(card.locator(".note")).to_have_count(0)
            expect(page.get_by_text(SLOW_NOTE)).to_have_count(0)
            page.wait_for_function("el => el.complete && el.naturalWidth > 0",
                                   arg=card.locator("img.result").element_handle(), timeout=10_000)
            screenshot(page, f"card-{name}")

            page.goto(f"{live.base_url}/generations/{generation.id}/")
            facts = page.locator(".facts")
            expect(facts).to_contain_text(
                re.compile(r"s from submit to result; the image service worked [\d.]+\s+s of it")
            )
            expect(facts).to_contain_text(f"{image.width}×{image.height} (1:1)")
            expect(page.get_by_text(SLOW_NOTE)).to_have_count(0)
            page.wait_for_function("el => el.complete && el.naturalWidth > 0",
                                   arg=page.locator("img.result").element_handle(), timeout=10_000)
            screenshot(page, f"detail-{name}")
        context.close()
