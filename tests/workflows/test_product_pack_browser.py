"""The product photo pack in headless Chromium, offline: pick the starter, see its price up front,
run it on one product photo and get the whole set — cut-out on white, two scenes, hero, clip."""

import pytest
from playwright.sync_api import expect

from apps.workflows.models import Workflow, WorkflowRun
from tests.media.factories import UploadFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = "/tmp/darkroom-shots"


@pytest.fixture
def page(signed_in_page):
    return signed_in_page


def test_the_product_photo_pack_runs_end_to_end_offline(page, catalog, starters, user):
    photo = UploadFactory(owner=user, width=120, height=90, filename="bottle.png")
    page.goto("/workflows/")
    starter = page.locator("article.wf-starter", has_text="Product photo pack")
    expect(starter).to_contain_text("a clean cut-out on white, two lifestyle scenes, an upscaled hero and a short clip")
    starter.get_by_role("link", name="Use this starter").click()
    page.click("#wf-save")  # a starter is a draft until it is saved
    expect(page.locator("#wf-status")).to_contain_text("Saved as version 1")
    workflow = Workflow.objects.get(owner=user)
    page.goto(f"/workflows/{workflow.pk}/")
    expect(page.locator("body")).to_contain_text("62 credits")
    page.select_option("select[name='input-photo']", str(photo.pk))
    page.click("button:text-is('Run')")
    expect(page.locator(".wf-run-header")).to_have_attribute("data-status", "succeeded")
    expect(page.locator(".wf-node.status-succeeded")).to_have_count(7)
    run = WorkflowRun.objects.get()
    assert run.charged_credits == 10
    page.screenshot(path=f"{SHOTS}/pack-run-1280.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=f"{SHOTS}/pack-run-390.png", full_page=True)
