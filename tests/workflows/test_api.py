"""The workflows API: create and version, start a run with inputs, follow it, cancel, retry, resume."""

import json
import uuid

import pytest
from django.test import Client

from apps.accounts.services import api_key_create
from apps.workflows.models import NodeRun, WorkflowRun

from .conftest import diamond

pytestmark = pytest.mark.usefixtures("catalog")


class Api:
    def __init__(self, user):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {api_key_create(user=user, name='tests').secret}"}

    def get(self, path, **params):
        return self.client.get(f"/api/v1{path}", params, headers=self.headers)

    def post(self, path, body=None):
        return self.client.post(f"/api/v1{path}", json.dumps(body or {}), content_type="application/json",
                                headers=self.headers)


@pytest.fixture
def api(user):
    return Api(user)


@pytest.fixture
def their_api(other_user):
    return Api(other_user)


def test_create_version_and_read_a_workflow(api):
    response = api.post("/workflows", {"name": "Product shot", "graph": diamond()})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["latest_version"], body["quote"], body["versions"]) == ("Product shot", 1, 0, [1])
    assert body["inputs"] == [{"node_id": "photo", "label": "Photo input", "kind": "photo"}]
    assert [n["id"] for n in body["graph"]["nodes"]] == ["photo", "cutout", "upscale", "colour", "composite"]

    graph = diamond()
    graph["nodes"][2]["params"]["factor"] = 4
    version = api.post(f"/workflows/{body['id']}/versions", {"graph": graph})
    assert version.status_code == 201
    assert (version.json()["number"], version.json()["graph"]["nodes"][2]["params"]["factor"]) == (2, 4)
    assert api.get(f"/workflows/{body['id']}/versions/1").json()["graph"]["nodes"][2]["params"]["factor"] == 2
    assert api.get(f"/workflows/{body['id']}").json()["versions"] == [2, 1]
    assert [w["id"] for w in api.get("/workflows").json()["items"]] == [body["id"]]


def test_an_invalid_graph_is_422_with_errors_pointing_at_nodes(api):
    graph = diamond()
    graph["nodes"][2]["params"]["factor"] = 3
    graph["edges"].pop(0)
    response = api.post("/workflows", {"name": "Broken", "graph": graph})
    assert response.status_code == 422
    assert response.json() == {
        "detail": "upscale: Factor: not one of the choices. (and 1 more problem)",
        "code": "invalid_workflow",
        "errors": [
            {"node": "upscale", "field": "factor", "message": "Factor: not one of the choices."},
            {"node": "cutout", "field": "image", "message": "Connect something to “Image”."},
        ],
    }
    assert api.get("/workflows").json()["items"] == []


def test_run_follow_retry_and_complete(api, user, photo, settings):
    settings.WORKFLOW_LOCAL_OPERATION_CREDITS = 1
    workflow = api.post("/workflows", {"name": "Shot", "graph": diamond(upscale_fail=1)}).json()
    missing = api.post(f"/workflows/{workflow['id']}/runs", {"inputs": {}})
    assert missing.status_code == 422
    assert missing.json()["errors"] == [{"node": "photo", "field": None, "message": "Choose a photo for this input."}]

    started = api.post(f"/workflows/{workflow['id']}/runs", {"inputs": {"photo": str(photo.pk)}})
    assert started.status_code == 201
    run = started.json()
    assert (run["status"], run["quoted_credits"], run["held_credits"], run["version"]) == ("running", 4, 4, 1)
    assert {n["node_id"]: n["status"] for n in run["nodes"]} == {
        "photo": "queued", "cutout": "pending", "upscale": "pending", "colour": "pending", "composite": "pending",
    }
    # Tests run tasks at commit only when asked: drive the queued work as a worker would.
    from apps.workflows import services

    def drain():
        while (queued := NodeRun.objects.filter(run_id=run["id"], status="queued").first()) is not None:
            services.node_run_execute(node_run_id=queued.pk)

    drain()
    failed = api.get(f"/workflow-runs/{run['id']}").json()
    assert failed["status"] == "failed" and failed["charged_credits"] == 2
    upscale = next(n for n in failed["nodes"] if n["node_id"] == "upscale")
    assert (upscale["status"], upscale["error"]["code"]) == ("failed", "forced_failure")
    done = next(n for n in failed["nodes"] if n["node_id"] == "colour")
    assert done["status"] == "succeeded" and done["images"][0]["url"].startswith("http://127.0.0.1:8000/files/")

    retried = api.post(f"/workflow-runs/{run['id']}/nodes/upscale/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "running"
    drain()
    final = api.get(f"/workflow-runs/{run['id']}").json()
    assert (final["status"], final["charged_credits"], final["held_credits"]) == ("succeeded", 4, 0)
    assert api.post(f"/workflow-runs/{run['id']}/nodes/upscale/retry").json() == {
        "detail": "Only a failed node of a run that was not canceled can be retried.", "code": "not_retryable",
    }
    assert api.post(f"/workflow-runs/{run['id']}/cancel").status_code == 409
    assert [r["id"] for r in api.get("/workflow-runs", workflow_id=workflow["id"]).json()["items"]] == [run["id"]]


def test_cancel_and_resume_over_the_api(api, photo):
    workflow = api.post("/workflows", {"name": "Shot", "graph": diamond()}).json()
    run = api.post(f"/workflows/{workflow['id']}/runs", {"inputs": {"photo": str(photo.pk)}}).json()
    canceled = api.post(f"/workflow-runs/{run['id']}/cancel")
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    assert {n["status"] for n in canceled.json()["nodes"]} == {"canceled"}
    assert api.post(f"/workflow-runs/{run['id']}/resume").json()["code"] == "not_resumable"


def test_everything_is_owner_scoped(api, their_api, photo):
    workflow = api.post("/workflows", {"name": "Mine", "graph": diamond()}).json()
    run = api.post(f"/workflows/{workflow['id']}/runs", {"inputs": {"photo": str(photo.pk)}}).json()
    not_found = {"detail": "Workflow not found.", "code": "not_found"}
    assert their_api.get(f"/workflows/{workflow['id']}").json() == not_found
    assert their_api.post(f"/workflows/{workflow['id']}/versions", {"graph": diamond()}).json() == not_found
    assert their_api.post(f"/workflows/{workflow['id']}/runs", {"inputs": {}}).status_code == 404
    assert their_api.get("/workflows").json()["items"] == []
    for path in (f"/workflow-runs/{run['id']}", f"/workflow-runs/{uuid.uuid4()}"):
        assert their_api.get(path).json() == {"detail": "Run not found.", "code": "not_found"}
    for action in ("cancel", "resume", "nodes/upscale/retry"):
        response = their_api.post(f"/workflow-runs/{run['id']}/{action}")
        assert response.status_code == 404, action
    assert their_api.get("/workflow-runs").json()["items"] == []
    assert WorkflowRun.objects.get(pk=run["id"]).status == "running"


def test_node_types_and_starters_are_listed(api, starters):
    types = {t["key"]: t for t in api.get("/workflow-node-types").json()}
    assert {"input_photo", "input_text", "generate", "edit", "image_to_video", "face_swap", "upscale",
            "remove_background", "color_correct", "resize_crop", "composite", "pick_best", "reroute"} <= set(types)
    assert types["upscale"]["fields"][0] | {"choices": None} == {
        "name": "factor", "label": "Factor", "kind": "choice", "default": 2, "choices": None, "min": None,
        "max": None, "required": False, "help": "", "advanced": False,
    }
    assert (types["image_to_video"]["available"], types["image_to_video"]["unavailable_reason"]) == (True, "")
    assert types["image_to_video"]["outputs"] == [
        {"name": "video", "type": "video", "label": "Video", "required": True, "multiple": False},
    ]
    starters = api.get("/workflow-starters").json()
    assert [s["key"] for s in starters] == [
        "product-photo-pack", "product-photo-white", "four-variations-best", "portrait-face-swap", "photo-to-video",
    ]
    copied = api.post("/workflows", {"starter": "product-photo-white"})
    assert copied.status_code == 201 and copied.json()["name"] == "Product photo on white"


def _generate_graph(**params):
    return {"nodes": [{"id": "gen", "type": "generate",
                       "params": {"model": "offline-sketch", "prompt": "a kite", **params}}], "edges": []}


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"tier": "gigantic"}, "tier", "Size: “gigantic” is not one of this model's sizes"),
    ({"num_images": True}, "num_images", "Images must be a whole number."),
])
def test_an_unknown_tier_or_a_wrong_typed_setting_is_refused_on_save(api, params, field, message):
    response = api.post("/workflows", {"name": "Odd", "graph": _generate_graph(**params)})
    assert response.status_code == 422, response.content
    [error] = response.json()["errors"]
    assert (error["node"], error["field"]) == ("gen", field) and error["message"].startswith(message)
    assert api.get("/workflows").json()["items"] == []


def test_a_known_tier_is_kept(api):
    response = api.post("/workflows", {"name": "Fine", "graph": _generate_graph(tier="draft")})
    assert response.status_code == 201, response.content
    assert response.json()["graph"]["nodes"][0]["params"]["tier"] == "draft"


def test_a_number_setting_that_is_not_finite_is_refused():
    from apps.workflows.engine.types import Field, FieldError

    for raw in ("nan", "inf", "-Infinity", True):
        with pytest.raises(FieldError, match="must be a number"):
            Field("strength", "Strength", "float", min=0, max=1).clean(raw)
