"""The run's node tallies (which end the run and draw its header without reading its nodes) always
match its nodes' rows: through every step, failures, retries, resumes, cancels and the cache."""

import re
from unittest import mock

import pytest

from apps.workflows import live, services, tasks
from apps.workflows.models import NodeRun, NodeStatus, RunStatus, WorkflowRun
from apps.workflows.services import scheduling

from .conftest import diamond
from .factories import workflow_with

pytestmark = pytest.mark.usefixtures("catalog")


def assert_tallies(run) -> WorkflowRun:
    run = WorkflowRun.objects.get(pk=run.pk)
    rows = list(NodeRun.objects.filter(run=run).values_list("status", "cached"))
    assert (run.nodes_total, run.nodes_active, run.nodes_succeeded, run.nodes_failed, run.nodes_cached) == (
        len(rows),
        sum(1 for status, _ in rows if status in (NodeStatus.QUEUED, NodeStatus.RUNNING)),
        sum(1 for status, _ in rows if status == NodeStatus.SUCCEEDED),
        sum(1 for status, _ in rows if status == NodeStatus.FAILED),
        sum(1 for _, cached in rows if cached),
    )
    return run


def test_tallies_follow_every_step(user, photo, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, diamond())
    with mock.patch.object(tasks, "node_run_enqueue", lambda *args, **kwargs: None):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
        assert assert_tallies(run).nodes_active == 1
        for node_id in ("photo", "cutout", "upscale", "colour", "composite"):
            node = NodeRun.objects.get(run=run, node_id=node_id)
            assert scheduling.node_claim(node.pk) is not None  # running: still active
            assert_tallies(run)
            services.node_succeed(node_run_id=node.pk, attempt=1, outputs={"image": []})
            run = assert_tallies(run)
            assert run.status == (RunStatus.SUCCEEDED if node_id == "composite" else RunStatus.RUNNING)
    assert (run.nodes_succeeded, run.nodes_total, run.nodes_active) == (5, 5, 0)


def test_tallies_through_failure_retry_and_resume(user, photo, django_capture_on_commit_callbacks):
    graph = diamond(upscale_fail=1)
    graph["nodes"][3]["params"]["fail_attempts"] = 1  # the colour branch fails too
    workflow = workflow_with(user, graph)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    run = assert_tallies(run)
    assert (run.status, run.nodes_failed, run.nodes_active, run.nodes_succeeded) == (RunStatus.FAILED, 2, 0, 2)
    with mock.patch.object(tasks, "node_run_enqueue", lambda *args, **kwargs: None):
        services.node_retry(user=user, run_id=run.pk, node_id="upscale")
        run = assert_tallies(run)
        assert (run.status, run.nodes_failed, run.nodes_active) == (RunStatus.RUNNING, 1, 1)
    with django_capture_on_commit_callbacks(execute=True):
        services.node_run_execute(node_run_id=NodeRun.objects.get(run=run, node_id="upscale").pk)
    run = assert_tallies(run)
    assert run.status == RunStatus.FAILED  # the colour branch is still failed
    with django_capture_on_commit_callbacks(execute=True):
        services.run_resume(user=user, run_id=run.pk)
    run = assert_tallies(run)
    assert (run.status, run.nodes_succeeded, run.nodes_failed) == (RunStatus.SUCCEEDED, 5, 0)


def test_tallies_through_automatic_retries_the_cache_and_cancel(user, photo, django_capture_on_commit_callbacks):
    graph = diamond(upscale_fail=2)
    graph["nodes"][2]["retry"] = {"max_attempts": 3, "backoff_seconds": 0}
    workflow = workflow_with(user, graph)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    assert assert_tallies(first).status == RunStatus.SUCCEEDED
    with django_capture_on_commit_callbacks(execute=True):
        second = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    second = assert_tallies(second)
    assert second.status == RunStatus.SUCCEEDED and second.nodes_cached >= 3
    with mock.patch.object(tasks, "node_run_enqueue", lambda *args, **kwargs: None):
        third = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
        services.node_run_execute(node_run_id=NodeRun.objects.get(run=third, node_id="photo").pk)
        assert assert_tallies(third).nodes_active == 1  # the cut-out, queued
        services.run_cancel(user=user, run_id=third.pk)
    third = assert_tallies(third)
    assert (third.status, third.nodes_active, third.nodes_succeeded) == (RunStatus.CANCELED, 0, 1)


def test_a_step_event_carries_its_cards_and_the_header_not_every_node(user, photo, django_capture_on_commit_callbacks):
    events = []
    workflow = workflow_with(user, diamond())
    with (
        mock.patch.object(live, "publish_to_user", lambda **kw: events.append(kw)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    steps = [e for e in events if e["event"] == "run.nodes_updated"]
    for event in steps:
        assert event["html"].count('<article id="node-') == len(event["data"]["nodes"])
        assert f'id="run-{run.pk}-timeline"' not in event["html"]
    ended = [e for e in steps if any(n["status"] == "succeeded" for n in e["data"]["nodes"])]
    assert [e["html"].count(f'<section id="run-{run.pk}"') for e in ended] == [1] * 4  # the last one ends the run
    assert [re.search(r"\d of 5 steps done[^<]*", e["html"]).group().strip() for e in ended] == [
        "1 of 5 steps done · 1 in progress", "2 of 5 steps done · 2 in progress",
        "3 of 5 steps done · 1 in progress", "4 of 5 steps done · 1 in progress",
    ]
    final = events[-1]
    assert final["event"] == "run.succeeded" and "5 of 5 steps done" in final["html"]
    assert f'<section id="run-{run.pk}-timeline"' in final["html"]
    assert final["html"].count('class="wf-timeline-bar status-succeeded') == 5
