"""A run's outputs in headless Chromium: each step's thumbnail shows the whole image (a portrait is
not cut to its top), opens full size, and downloads under a name that says what it is."""

import pytest
from django.test import Client

from apps.media.models import Upload
from apps.workflows import services
from apps.workflows.models import NodeRun
from tests.browser import chromium
from tests.media.factories import UploadFactory

from .conftest import edge, node

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}])
def test_outputs_show_whole_open_full_size_and_download_named(live_server, user, catalog, viewport):
    photo = UploadFactory(owner=user, width=90, height=240, filename="bottle.png")  # a tall portrait
    graph = {"nodes": [node("photo", "input_photo"), node("cutout", "remove_background"),
                       node("bigger", "upscale", factor=2)],
             "edges": [edge("photo", "cutout"), edge("cutout", "bigger")]}
    workflow = services.workflow_create(user=user, name="Cut out", graph=graph)
    run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    run.refresh_from_db()
    assert run.status == "succeeded"
    cutout = NodeRun.objects.get(run=run, node_id="cutout")
    bigger = NodeRun.objects.get(run=run, node_id="bigger")
    names = {Upload.objects.get(pk=n.outputs["image"][0]["upload_id"]).original_name for n in (cutout, bigger)}
    assert names == {"bottle – background removed", "bottle – background removed – upscaled 2×"}

    client = Client()
    client.force_login(user)
    with chromium() as browser:
        context = browser.new_context(base_url=live_server.url, viewport=viewport, accept_downloads=True)
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                              "url": live_server.url}])
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"/workflows/runs/{run.pk}/")
        card = page.locator(f"#node-{cutout.pk}")
        image = card.locator("img.output")
        image.evaluate("img => img.decode()")
        media = card.locator(".wf-node-media").bounding_box()
        shown = image.evaluate("""img => {
          const box = img.getBoundingClientRect(), ratio = img.naturalWidth / img.naturalHeight;
          const scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
          return {top: box.top, bottom: box.bottom, drawnHeight: img.naturalHeight * scale, ratio};
        }""")
        assert shown["ratio"] < 0.5  # the thumbnail is the portrait
        assert media["y"] - 1 <= shown["top"] and shown["bottom"] <= media["y"] + media["height"] + 1, (shown, media)
        assert shown["drawnHeight"] <= media["height"] + 1

        full = card.locator(".wf-output > a").first
        assert full.get_attribute("target") == "_blank"
        response = page.request.get(full.get_attribute("href"))
        assert response.status == 200 and response.headers["content-type"] == "image/png"
        download_link = card.locator("a.wf-download")
        assert download_link.get_attribute("download") == "bottle – background removed.png"
        with page.expect_download() as info:
            download_link.click()
        assert info.value.suggested_filename == "bottle – background removed.png"
        page.screenshot(path=f"/tmp/wf-run-{viewport['width']}.png", full_page=True)
        assert errors == [], errors
