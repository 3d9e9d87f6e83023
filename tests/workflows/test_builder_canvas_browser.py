"""The builder's canvas in headless Chromium, as a new user meets it: an honest save status, new
steps inside the view, named ports, zoom and fit, and a link dropped on overlapping steps."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from apps.workflows import services
from tests.browser import chromium

from .conftest import edge, node

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def open_page(live_server, user):
    client = Client()
    client.force_login(user)
    with chromium() as browser:
        errors = []

        def open_page(path, viewport=None):
            context = browser.new_context(base_url=live_server.url, viewport=viewport or {"width": 1280, "height": 800})
            context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                                  "url": live_server.url}])
            page = context.new_page()
            page.set_default_timeout(10_000)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(path)
            return page

        yield open_page
        assert errors == [], errors


def inside(box, area, slack=1):
    return (area["x"] - slack <= box["x"] and area["y"] - slack <= box["y"]
            and box["x"] + box["width"] <= area["x"] + area["width"] + slack
            and box["y"] + box["height"] <= area["y"] + area["height"] + slack)


def test_the_save_status_tells_the_truth(open_page, user, catalog):
    graph = {"nodes": [node("photo", "input_photo"), node("cutout", "remove_background")],
             "edges": [edge("photo", "cutout")]}
    workflow = services.workflow_create(user=user, name="Cut out", graph=graph)
    page = open_page(f"/workflows/{workflow.pk}/builder/")
    expect(page.locator(".drawflow-node")).to_have_count(2)
    expect(page.locator("#wf-status")).to_have_text("")  # nothing changed yet
    expect(page.locator("#wf-version")).to_have_text("Editing version 1")
    page.click("button[data-add-node]:text-is('Upscale')")
    expect(page.locator("#wf-status")).to_have_text("Unsaved changes.")
    page.evaluate("() => window.darkroomBuilder.editor.addConnection(2, 3, 'output_1', 'input_1')")
    page.click("#wf-save")
    expect(page.locator("#wf-status")).to_contain_text("Saved as version 2")
    expect(page.locator("#wf-version")).to_have_text("Editing version 2")
    expect(page.locator(".wf-builder-bar")).not_to_contain_text("Not saved yet")


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}])
def test_new_steps_land_inside_the_view_apart_and_with_named_ports(open_page, user, catalog, viewport):
    workflow = services.workflow_create(user=user, name="Empty")
    page = open_page(f"/workflows/{workflow.pk}/builder/", viewport)
    canvas = page.locator("#drawflow")
    canvas.scroll_into_view_if_needed()
    for label in ("Photo input", "Remove background", "Upscale", "Colour correct", "Composite onto backdrop",
                  "Resize / crop", "Pick best"):
        page.click(f"button[data-add-node]:text-is('{label}')")
    nodes = page.locator(".drawflow-node")
    expect(nodes).to_have_count(7)
    area = canvas.bounding_box()
    boxes = [nodes.nth(i).bounding_box() for i in range(7)]
    for box in boxes:  # every step in view (a full view zooms out to show the new one), none on another
        assert inside(box, area), (box, area)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
                        and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]), (a, b)

    composite = page.locator(".drawflow-node.wf-type-composite")
    expect(composite.locator(".wf-df-in")).to_have_text(["Subject", "Backdrop (optional)"])
    expect(composite.locator(".wf-df-out")).to_have_text(["", "Image"])
    for index, name in ((1, "Subject"), (2, "Backdrop (optional)")):
        circle = composite.locator(f".inputs .input_{index}").bounding_box()
        row = composite.locator(".wf-df-in").nth(index - 1).bounding_box()
        assert abs((circle["y"] + circle["height"] / 2) - (row["y"] + row["height"] / 2)) <= 3, (name, circle, row)

    page.click("#wf-zoom-fit")
    area = canvas.bounding_box()
    for i in range(7):
        assert inside(nodes.nth(i).bounding_box(), area), i
    before = page.evaluate("() => window.darkroomBuilder.editor.zoom")
    page.click("#wf-zoom-in")
    assert page.evaluate("() => window.darkroomBuilder.editor.zoom") == pytest.approx(min(1.6, before * 1.2))
    page.click("#wf-zoom-out")
    page.click("#wf-zoom-out")
    assert page.evaluate("() => window.darkroomBuilder.editor.zoom") < before
    expect(page.locator("#wf-zoom-level")).to_have_text(f"{round(page.evaluate('() => window.darkroomBuilder.editor.zoom') * 100)}%")
    page.screenshot(path=f"/tmp/builder-{viewport['width']}.png", full_page=True)


def test_a_link_dropped_on_overlapping_steps_attaches_or_says_why_not(open_page, user, catalog):
    workflow = services.workflow_create(user=user, name="Overlap")
    page = open_page(f"/workflows/{workflow.pk}/builder/")
    page.evaluate("""() => {
      const b = window.darkroomBuilder;
      b.load({nodes: [
        {id: "photo", type: "input_photo", params: {}, position: {x: 40, y: 60}},
        {id: "prompt", type: "input_text", params: {}, position: {x: 40, y: 300}},
        {id: "composite", type: "composite", params: {}, position: {x: 420, y: 80}},
        {id: "upscale", type: "upscale", params: {}, position: {x: 450, y: 110}},
      ], edges: []});
    }""")
    expect(page.locator(".drawflow-node")).to_have_count(4)

    def drag(from_selector, to_node):
        start = page.locator(from_selector).bounding_box()
        target = page.locator(f".drawflow-node.wf-type-{to_node} .wf-df-label").bounding_box()
        page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
        page.mouse.down()
        page.mouse.move(target["x"] + 10, target["y"] + 8, steps=8)
        page.mouse.up()

    # The upscale step covers the composite's ports; the wire lands on the upscale's body: attached.
    drag(".drawflow-node.wf-type-input_photo .output_1", "upscale")
    graph = page.evaluate("() => window.darkroomBuilder.toGraph()")
    assert [(e["from"], e["to"], e["to_port"]) for e in graph["edges"]] == [("photo", "upscale", "image")]
    expect(page.locator("#wf-status")).to_have_text("Connected “Photo” to “Image” of Upscale.")
    # A text output dropped on an image-only step: not attached, and the status says why.
    drag(".drawflow-node.wf-type-input_text .output_1", "upscale")
    graph = page.evaluate("() => window.darkroomBuilder.toGraph()")
    assert len(graph["edges"]) == 1
    expect(page.locator("#wf-status")).to_have_text("Upscale has no input for text (it takes: Image — image).")


def test_new_and_starter_workflows_are_stored_only_when_saved(open_page, user, catalog, starters):
    from apps.workflows.models import Workflow

    page = open_page("/workflows/")
    page.click("a:text-is('Use this starter') >> nth=0")
    expect(page.locator("#wf-status")).to_contain_text("not saved yet")
    expect(page.locator(".drawflow-node").first).to_be_visible()
    expect(page.locator("#wf-run-link")).to_be_hidden()
    assert Workflow.objects.count() == 0
    page.click("#wf-save")
    expect(page.locator("#wf-status")).to_contain_text("Saved as version 1")
    workflow = Workflow.objects.get(owner=user)
    assert workflow.starter_key and page.url.endswith(f"/workflows/{workflow.pk}/builder/")
    page.click("#wf-save")  # the next save is the same workflow's next version
    expect(page.locator("#wf-status")).to_contain_text("Saved as version 2")
    assert Workflow.objects.count() == 1
    page.click("#wf-run-link")
    page.wait_for_url(f"**/workflows/{workflow.pk}/")

    page.goto("/workflows/")
    page.fill("#id_name", "Mine")
    page.click("button:text-is('New workflow')")
    expect(page.locator("#wf-name")).to_have_value("Mine")
    page.click("button[data-add-node]:text-is('Text input')")
    assert Workflow.objects.count() == 1
    page.click("#wf-save")
    expect(page.locator("#wf-status")).to_contain_text("Saved as version 1")
    assert sorted(Workflow.objects.values_list("name", flat=True)) == ["Mine", workflow.name]
