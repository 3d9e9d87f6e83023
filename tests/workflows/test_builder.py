"""The builder page (vendored Drawflow, node types with their schemas) and its save/export endpoints."""

import json
import re

import pytest
from django.conf import settings
from django.test import Client

from apps.workflows.models import Workflow

from .conftest import diamond
from .factories import workflow_with

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def json_script(page: str, element_id: str):
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', page, re.DOTALL)
    return json.loads(match.group(1))


def test_the_builder_page_loads_the_vendored_pinned_drawflow(browser, user):
    workflow = workflow_with(user, diamond())
    page = browser.get(f"/workflows/{workflow.pk}/builder/").content.decode()
    assert '<script src="/static/vendor/drawflow/drawflow-0.0.60.min.js" defer></script>' in page
    assert '<link rel="stylesheet" href="/static/vendor/drawflow/drawflow-0.0.60.min.css">' in page
    assert '<script src="/static/js/workflow-builder.js" defer></script>' in page
    vendored = settings.BASE_DIR / "static" / "vendor" / "drawflow"
    assert sorted(p.name for p in vendored.iterdir()) == ["LICENSE", "drawflow-0.0.60.min.css", "drawflow-0.0.60.min.js"]
    assert "MIT License" in (vendored / "LICENSE").read_text()
    assert browser.get("/static/vendor/drawflow/drawflow-0.0.60.min.js").status_code == 200

    types = {t["key"]: t for t in json_script(page, "wf-node-types")}
    assert types["composite"]["inputs"] == [
        {"name": "image", "type": "image", "label": "Subject", "required": True, "multiple": False},
        {"name": "backdrop", "type": "image", "label": "Backdrop", "required": False, "multiple": False},
    ]
    model = next(f for f in types["generate"]["fields"] if f["name"] == "model")
    assert {"value": "offline-sketch", "label": "Offline Sketch"} in model["choices"]
    assert {"value": "kling-video", "label": "Kling Video"} not in model["choices"]
    graph = json_script(page, "wf-graph")
    assert [n["id"] for n in graph["nodes"]] == ["photo", "cutout", "upscale", "colour", "composite"]
    # Laid out in columns by depth, since the graph came without positions.
    assert [n["position"]["x"] for n in graph["nodes"]] == [24, 304, 584, 584, 864]
    assert f'data-save-url="/workflows/{workflow.pk}/versions/"' in page
    for label in ("Remove background", "Upscale", "Colour correct", "Composite onto backdrop", "Generate"):
        assert f">{label}</button>" in page


def save(browser, workflow, body):
    return browser.post(f"/workflows/{workflow.pk}/versions/", json.dumps(body), content_type="application/json")


def test_save_makes_a_new_version_or_returns_errors_on_nodes(browser, user):
    workflow = Workflow.objects.create(owner=user, name="Draft")
    response = save(browser, workflow, {"name": "Catalogue shot", "graph": diamond()})
    assert response.status_code == 201
    assert response.json() == {
        "version": 1, "quote": 0, "detail_url": f"/workflows/{workflow.pk}/", "unavailable": [],
        "builder_url": f"/workflows/{workflow.pk}/builder/", "save_url": f"/workflows/{workflow.pk}/versions/",
    }
    workflow.refresh_from_db()
    assert (workflow.name, workflow.latest_version_number) == ("Catalogue shot", 1)

    broken = diamond()
    broken["nodes"][4]["params"]["padding"] = 99
    response = save(browser, workflow, {"graph": broken})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"node": "composite", "field": "padding", "message": "Margin (%) must be at most 40."}
    ]
    assert workflow.versions.count() == 1

    video = {"nodes": [{"id": "photo", "type": "input_photo"},
                       {"id": "clip", "type": "image_to_video", "params": {"model": "offline-motion"}}],
             "edges": [{"from": "photo", "from_port": "image", "to": "clip", "to_port": "image"}]}
    response = save(browser, workflow, {"graph": video})
    assert (response.status_code, response.json()["unavailable"]) == (201, [])
    video["nodes"][1]["params"]["model"] = "veo-video"  # a video model that can't start from a photo
    response = save(browser, workflow, {"graph": video})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["model"]
    assert save(browser, workflow, {"graph": None}).status_code == 422
    assert browser.post(f"/workflows/{workflow.pk}/versions/", "nope", content_type="application/json").status_code == 400


def test_export_is_the_saved_graph_as_a_download(browser, user):
    workflow = workflow_with(user, diamond(), name="Shots")
    response = browser.get(f"/workflows/{workflow.pk}/export.json")
    assert response["Content-Disposition"] == f'attachment; filename="workflow-{workflow.pk}.json"'
    body = response.json()
    assert (body["darkroom_workflow"], body["name"], body["version"]) == (1, "Shots", 1)
    # What was exported imports again as it was.
    again = save(browser, workflow, {"graph": body["graph"]})
    assert again.status_code == 201 and again.json()["version"] == 2
    assert workflow.versions.get(number=2).graph["edges"] == workflow.versions.get(number=1).graph["edges"]
