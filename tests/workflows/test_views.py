"""Pages: the list with starters, run form, the run page with its live graph, and page actions."""

import json
import re
from unittest import mock

import pytest
from django.test import Client

from apps.workflows import live, services
from apps.workflows.models import NodeRun, RunStatus, Workflow

from .conftest import diamond
from .factories import workflow_with

pytestmark = pytest.mark.usefixtures("catalog")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_list_page_shows_my_workflows_and_the_starters(browser, user, starters):
    workflow_with(user, diamond(), name="Catalogue shots")
    page = browser.get("/workflows/").content.decode()
    assert '<a href="/workflows/">Workflows</a>' in page
    assert "Catalogue shots" in page
    assert "Product photo on white" in page and "Four variations, keep the best" in page
    assert "Face swap is not available" not in page  # the catalogue has a face-swap model


def test_a_starter_opens_as_a_draft_and_is_stored_only_when_saved(browser, user, starters):
    page = browser.get("/workflows/starters/product-photo-white/use/")
    assert page.status_code == 200 and Workflow.objects.count() == 0
    html = page.content.decode()
    assert 'data-save-url="/workflows/new/"' in html and 'data-starter="product-photo-white"' in html
    assert 'value="Product photo on white"' in html and "not saved yet" in html
    assert browser.post("/workflows/starters/product-photo-white/use/").url == "/workflows/starters/product-photo-white/use/"
    assert Workflow.objects.count() == 0
    graph = json.loads(re.search(r'<script id="wf-graph" type="application/json">(.*?)</script>', html).group(1))
    saved = browser.post("/workflows/new/", {"name": "Product photo on white", "graph": graph,
                                             "starter": "product-photo-white"}, content_type="application/json")
    workflow = Workflow.objects.get(owner=user)
    assert saved.status_code == 201 and saved.json() | {"quote": None, "unavailable": None} == {
        "version": 1, "quote": None, "unavailable": None, "detail_url": f"/workflows/{workflow.pk}/",
        "builder_url": f"/workflows/{workflow.pk}/builder/", "save_url": f"/workflows/{workflow.pk}/versions/",
    }
    assert (workflow.name, workflow.starter_key, workflow.latest_version_number) == (
        "Product photo on white", "product-photo-white", 1,
    )
    assert browser.get("/workflows/starters/no-such-starter/use/").status_code == 404


def test_new_workflow_opens_the_builder_without_storing_anything(browser, user):
    page = browser.get("/workflows/new/", {"name": "Mine"})
    assert page.status_code == 200 and 'value="Mine"' in page.content.decode()
    assert browser.post("/workflows/new/", {"name": "Mine"}).url == "/workflows/new/?name=Mine"
    assert Workflow.objects.count() == 0
    refused = browser.post("/workflows/new/", {"name": "Mine", "graph": {"nodes": [{"id": "x", "type": "upscale"}],
                                                                          "edges": []}}, content_type="application/json")
    assert refused.status_code == 422 and Workflow.objects.count() == 0  # an invalid first save stores nothing
    saved = browser.post("/workflows/new/", {"name": "Mine", "graph": diamond()}, content_type="application/json")
    workflow = Workflow.objects.get(owner=user)
    assert saved.status_code == 201 and (workflow.name, workflow.latest_version_number) == ("Mine", 1)


def test_an_abandoned_draft_can_be_deleted_from_the_list(browser, user):
    draft = Workflow.objects.create(owner=user, name="Left behind")
    kept = workflow_with(user, diamond(), name="Kept")
    page = browser.get("/workflows/").content.decode()
    assert f'action="/workflows/{draft.pk}/delete/"' in page and "Delete draft" in page
    assert f'action="/workflows/{kept.pk}/delete/"' not in page  # a saved one is deleted from its own page
    assert browser.post(f"/workflows/{draft.pk}/delete/").url == "/workflows/"
    assert list(Workflow.objects.values_list("name", flat=True)) == ["Kept"]


def test_run_from_the_page_and_watch_the_graph(browser, user, photo, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, diamond())
    detail = browser.get(f"/workflows/{workflow.pk}/").content.decode()
    assert f'<option value="{photo.pk}"' in detail and "Quote: <strong>0 credits</strong>" in detail
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/workflows/{workflow.pk}/run/", {"input-photo": str(photo.pk)})
    run = workflow.runs.get()
    assert response.status_code == 302 and response.url == f"/workflows/runs/{run.pk}/"
    page = browser.get(response.url).content.decode()
    for node in NodeRun.objects.filter(run=run):
        assert re.search(rf'<article id="node-{node.pk}" class="wf-node status-succeeded"', page), node.node_id
    assert page.count("<path d=") == 5  # the edges
    assert "5 of 5 steps done" in page
    assert 'class="wf-timeline-bar status-succeeded' in page


def test_run_form_errors_are_shown(browser, user):
    workflow = workflow_with(user, diamond())
    response = browser.post(f"/workflows/{workflow.pk}/run/", {"input-photo": ""})
    assert response.status_code == 422
    assert "Photo input (photo): Choose a photo for this input." in response.content.decode()


def test_node_states_are_published_live(user, photo, django_capture_on_commit_callbacks):
    events = []
    workflow = workflow_with(user, diamond())
    with (
        mock.patch.object(live, "publish_to_user", lambda **kw: events.append(kw)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    run.refresh_from_db()
    assert (events[0]["event"], events[-1]["event"]) == ("run.updated", "run.succeeded")
    node_events = [n for e in events for n in e["data"]["nodes"]]
    upscale = [e["status"] for e in node_events if e["node_id"] == "upscale"]
    assert upscale == ["queued", "running", "succeeded"]
    # The cut-out finishing queues both branches: one event, three cards.
    fork = next(e for e in events if any(n["node_id"] == "cutout" and n["status"] == "succeeded" for n in e["data"]["nodes"]))
    assert [(n["node_id"], n["status"]) for n in fork["data"]["nodes"]] == [
        ("cutout", "succeeded"), ("colour", "queued"), ("upscale", "queued"),
    ]
    last = next(e for e in reversed(node_events) if e["node_id"] == "composite")
    assert last["images"][0]["thumbnail_url"].startswith("http://127.0.0.1:8000/files/")
    composite = NodeRun.objects.get(run=run, node_id="composite")
    card = next(e for e in reversed(events) if any(n["node_id"] == "composite" for n in e["data"]["nodes"]))
    assert (f'<article id="node-{composite.pk}" class="wf-node status-succeeded" data-revision="{composite.revision}"'
            in card["html"])
    assert 'hx-swap-oob="true"' in card["html"]
    final = events[-1]
    assert final["data"] | {"created_at": None, "finished_at": None, "nodes": None} == {
        "id": str(run.pk), "workflow_id": str(workflow.pk), "version": 1, "status": "succeeded", "quoted_credits": 0,
        "held_credits": 0, "charged_credits": 0, "error_message": None, "revision": run.revision,
        "created_at": None, "finished_at": None, "nodes": None,
    }
    assert f'<section id="run-{run.pk}"' in final["html"] and '<span id="balance"' in final["html"]
    assert "5 of 5 steps done" in final["html"]


def test_retry_from_the_page(browser, user, photo, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, diamond(upscale_fail=1))
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    page = browser.get(f"/workflows/runs/{run.pk}/").content.decode()
    assert "Retry this step" in page and "Resume run" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/workflows/runs/{run.pk}/nodes/upscale/retry/", headers=HTMX)
    assert response.status_code == 200
    assert f'<section id="run-{run.pk}" class="panel wf-run-header status-' in response.content.decode()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_retry_and_resume_are_plain_forms_that_work_without_javascript(user, photo, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, diamond(upscale_fail=1))
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get(f"/workflows/runs/{run.pk}/").content.decode()
    for action in (f"/workflows/runs/{run.pk}/nodes/upscale/retry/", f"/workflows/runs/{run.pk}/resume/"):
        form = re.search(r'<form method="post" action="%s"[^>]*>(.*?)</form>' % re.escape(action), page, re.S)
        assert form, action
        assert re.search(r'name="csrfmiddlewaretoken" value="[^"]+"', form.group(1)), action
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/workflows/runs/{run.pk}/nodes/upscale/retry/", {"csrfmiddlewaretoken": token})
    assert (response.status_code, response.url) == (302, f"/workflows/runs/{run.pk}/")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_cancel_from_the_page(browser, user, photo):
    workflow = workflow_with(user, diamond())
    run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    response = browser.post(f"/workflows/runs/{run.pk}/cancel/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED


def test_another_users_run_is_not_found(user, other_user, photo):
    workflow = workflow_with(user, diamond())
    run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    stranger = Client()
    stranger.force_login(other_user)
    for path in (f"/workflows/runs/{run.pk}/", f"/workflows/runs/{run.pk}/header/",
                 f"/workflows/runs/{run.pk}/nodes/photo/", f"/workflows/{workflow.pk}/",
                 f"/workflows/{workflow.pk}/builder/", f"/workflows/{workflow.pk}/export.json"):
        assert stranger.get(path).status_code == 404, path
    assert stranger.post(f"/workflows/runs/{run.pk}/cancel/").status_code == 404
    assert stranger.post(f"/workflows/runs/{run.pk}/nodes/photo/retry/").status_code == 404
