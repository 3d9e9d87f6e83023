"""Scheduling: a fan-out and its fan-in, and what a success report does when the node changed
after its claim (reported twice, canceled, taken over by another worker)."""

from unittest import mock

import pytest

from apps.workflows import services, tasks
from apps.workflows.models import NodeRun, NodeStatus, RunStatus, WorkflowRun
from apps.workflows.services import scheduling

from .conftest import edge, node
from .factories import workflow_with

pytestmark = pytest.mark.usefixtures("catalog")


def fan(width: int = 4) -> dict:
    nodes = [node("photo", "input_photo"), *(node(f"r{i}", "reroute") for i in range(width)), node("join", "reroute")]
    edges = [edge("photo", f"r{i}") for i in range(width)] + [edge(f"r{i}", "join") for i in range(width)]
    return {"nodes": nodes, "edges": edges}


def start(user, photo, graph, **kwargs):
    workflow = workflow_with(user, graph)
    return services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)}, **kwargs)


def test_a_fan_out_and_its_fan_in_run_once_each(user, photo, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = start(user, photo, fan())
    run = WorkflowRun.objects.get(pk=run.pk)
    nodes = {n.node_id: n for n in NodeRun.objects.filter(run=run)}
    assert run.status == RunStatus.SUCCEEDED
    assert (run.nodes_total, run.nodes_succeeded, run.nodes_active, run.nodes_failed) == (6, 6, 0, 0)
    assert {n.status for n in nodes.values()} == {NodeStatus.SUCCEEDED}
    assert {n.attempt for n in nodes.values()} == {1}
    assert all(n.waiting_on == 0 for n in nodes.values())
    assert len(nodes["join"].outputs["image"]) == 4  # every branch's image, in edge order


def claimed_first_node(user, photo):
    run = start(user, photo, fan(2))
    first = NodeRun.objects.get(run=run, node_id="photo")
    scheduling.node_claim(first.pk)
    return run, first


def test_a_report_twice_for_one_claim_is_applied_once(user, photo):
    with mock.patch.object(tasks, "node_run_enqueue", lambda *args, **kwargs: None):
        run, first = claimed_first_node(user, photo)
        report = {"node_run_id": first.pk, "attempt": 1, "outputs": {"image": []}}
        assert services.node_succeed(**report) is True
        assert services.node_succeed(**report) is False
    run = WorkflowRun.objects.get(pk=run.pk)
    assert (run.nodes_succeeded, run.nodes_active) == (1, 2)
    assert list(NodeRun.objects.filter(run=run, status=NodeStatus.QUEUED).order_by("node_id")
                .values_list("node_id", flat=True)) == ["r0", "r1"]


def test_a_node_canceled_after_its_claim_is_not_recorded(user, photo):
    with mock.patch.object(tasks, "node_run_enqueue", lambda *args, **kwargs: None):
        run, first = claimed_first_node(user, photo)
        services.run_cancel(user=user, run_id=run.pk)
        before = WorkflowRun.objects.get(pk=run.pk)
        assert services.node_succeed(node_run_id=first.pk, attempt=1, outputs={"image": []}) is False
    after = WorkflowRun.objects.get(pk=run.pk)
    assert after.status == RunStatus.CANCELED
    assert (after.nodes_succeeded, after.nodes_active, after.revision) == (0, 0, before.revision)
    assert NodeRun.objects.get(pk=first.pk).status == NodeStatus.CANCELED


def test_a_node_taken_over_after_its_claim_is_recorded_by_the_new_attempt_only(user, photo):
    with mock.patch.object(tasks, "node_run_enqueue", lambda *args, **kwargs: None):
        run, first = claimed_first_node(user, photo)
        NodeRun.objects.filter(pk=first.pk).update(attempt=2)  # another worker took the stale node over
        assert services.node_succeed(node_run_id=first.pk, attempt=1, outputs={"image": []}) is False
        assert NodeRun.objects.get(pk=first.pk).status == NodeStatus.RUNNING
        assert services.node_succeed(node_run_id=first.pk, attempt=2, outputs={"image": []}) is True
    run = WorkflowRun.objects.get(pk=run.pk)
    assert (run.nodes_succeeded, run.nodes_active) == (1, 2)
