"""The builder in headless Chromium: add nodes from the palette, connect them, see validation errors
on the nodes, configure one through its generated form, save, run, retry the failed step."""


import pytest
from django.test import Client
from playwright.sync_api import expect

from apps.workflows.models import NodeRun, Workflow, WorkflowRun
from tests.browser import chromium
from tests.media.factories import UploadFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



@pytest.fixture
def page(live_server, user):
    client = Client()
    client.force_login(user)
    with chromium() as browser:
        context = browser.new_context(base_url=live_server.url)
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                              "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        assert errors == [], errors


def test_build_save_run_and_retry_in_the_browser(page, catalog, user):
    photo = UploadFactory(owner=user, width=120, height=90, filename="bottle.png")
    page.goto("/workflows/")
    page.fill("#id_name", "Bottle shot")
    page.click("text=New workflow")
    expect(page.locator("#wf-name")).to_have_value("Bottle shot")

    for label in ("Photo input", "Remove background", "Upscale", "Colour correct", "Composite onto backdrop"):
        page.click(f"button[data-add-node]:text-is('{label}')")
    expect(page.locator(".drawflow-node")).to_have_count(5)

    # Saving an unconnected graph: the server's errors land on the nodes.
    page.click("#wf-save")
    expect(page.locator("#wf-status")).to_have_class("wf-status error")
    expect(page.locator(".drawflow-node.has-error")).to_have_count(4)
    expect(page.locator("#node-3 .wf-df-error")).to_have_text("Connect something to “Image”.")

    # Connect photo → cut-out → (upscale ‖ colour) → composite, as dragging a wire does.
    page.evaluate("""() => {
      const e = window.darkroomBuilder.editor;
      e.addConnection(1, 2, "output_1", "input_1");
      e.addConnection(2, 3, "output_1", "input_1");
      e.addConnection(2, 4, "output_1", "input_1");
      e.addConnection(3, 5, "output_1", "input_1");
      e.addConnection(4, 5, "output_1", "input_2");
      e.addConnection(1, 3, "output_1", "input_1");  // a second wire into a single input replaces the first
    }""")
    graph = page.evaluate("() => window.darkroomBuilder.toGraph()")
    assert sorted((e["from"], e["to"], e["to_port"]) for e in graph["edges"]) == [
        ("color_correct", "composite", "backdrop"), ("photo", "remove_background", "image"),
        ("photo", "upscale", "image"), ("remove_background", "color_correct", "image"),
        ("upscale", "composite", "image"),
    ]
    page.evaluate("""() => {
      const e = window.darkroomBuilder.editor;
      e.removeSingleConnection(1, 3, "output_1", "input_1");
      e.addConnection(2, 3, "output_1", "input_1");
    }""")

    # Configure the upscale through its generated form: 4×, and the failure knob on.
    page.click("#node-3")
    expect(page.locator("#wf-inspector-body h3")).to_have_text("Upscale")
    page.select_option("#wf-field-factor", "4")
    page.click("#wf-inspector-body summary")
    page.fill("#wf-field-fail_attempts", "1")
    page.click("#wf-save")
    expect(page.locator("#wf-status")).to_contain_text("Saved as version 1")
    expect(page.locator(".drawflow-node.has-error")).to_have_count(0)

    workflow = Workflow.objects.get(owner=user)
    version = workflow.versions.get()
    nodes = {n["type"]: n for n in version.graph["nodes"]}
    assert nodes["upscale"]["params"] == {"factor": 4, "fail_attempts": 1}
    ids = {n["id"]: n["type"] for n in version.graph["nodes"]}
    assert sorted((ids[e["from"]], ids[e["to"]], e["to_port"]) for e in version.graph["edges"]) == [
        ("color_correct", "composite", "backdrop"), ("input_photo", "remove_background", "image"),
        ("remove_background", "color_correct", "image"), ("remove_background", "upscale", "image"),
        ("upscale", "composite", "image"),
    ]

    # Run it (tasks run at commit in tests), see the upscale fail, retry it alone.
    page.click("#wf-run-link")
    page.select_option("select[name='input-photo']", str(photo.pk))
    page.click("button:text-is('Run')")
    expect(page.locator(".wf-run-header")).to_have_attribute("data-status", "failed")
    run = WorkflowRun.objects.get()
    upscale = NodeRun.objects.get(run=run, type_key="upscale")
    expect(page.locator(f"#node-{upscale.pk}")).to_have_attribute("data-status", "failed")
    page.locator(f"#node-{upscale.pk} button:text-is('Retry this step')").click()
    expect(page.locator(".wf-run-header")).to_have_attribute("data-status", "succeeded")
    expect(page.locator(f"#node-{upscale.pk}")).to_have_attribute("data-status", "succeeded")
    expect(page.locator(".wf-node.status-succeeded")).to_have_count(5)
    run.refresh_from_db()
    charged = list(NodeRun.objects.filter(run=run).values_list("charged_credits", flat=True))
    assert run.charged_credits == sum(charged)

    # Unchanged, again: every step comes from the cache.
    page.goto(f"/workflows/{workflow.pk}/")
    page.select_option("select[name='input-photo']", str(photo.pk))
    page.click("button:text-is('Run')")
    expect(page.locator(".wf-run-header")).to_have_attribute("data-status", "succeeded")
    expect(page.locator(".wf-node.cached")).to_have_count(5)
    expect(page.locator(".wf-run-header")).to_contain_text("5 of 5 steps done (5 from the cache)")

    # Export the canvas as JSON, then import it back: the same graph.
    page.goto(f"/workflows/{workflow.pk}/builder/")
    expect(page.locator(".drawflow-node")).to_have_count(5)
    before = page.evaluate("() => window.darkroomBuilder.toGraph()")
    page.click("#wf-export")
    exported = page.locator("#wf-json").input_value()
    page.evaluate("() => window.darkroomBuilder.load({nodes: [], edges: []})")
    expect(page.locator(".drawflow-node")).to_have_count(0)
    page.fill("#wf-json", exported)
    page.click("#wf-import")
    expect(page.locator(".drawflow-node")).to_have_count(5)
    after = page.evaluate("() => window.darkroomBuilder.toGraph()")
    assert sorted(map(str, after["edges"])) == sorted(map(str, before["edges"]))
    assert {n["id"]: n["params"] for n in after["nodes"]} == {n["id"]: n["params"] for n in before["nodes"]}
