"""A generate step ends when its generation announces its end (the `GenerationFinished` domain
event, which the workflows app subscribes to), not at its next poll: here the
polling chain is recorded but never run, so only the hook can finish the step."""

import pytest

from apps.core import events
from apps.generations import services as generation_services
from apps.workflows import services, tasks
from apps.workflows.models import NodeRun, NodeStatus, RunStatus

from .conftest import edge, node
from .factories import workflow_with

pytestmark = pytest.mark.usefixtures("catalog")

GRAPH = {
    "nodes": [node("prompt", "input_text"),
              node("gen", "generate", model="offline-sketch", tier="draft", num_images=1, seed="")],
    "edges": [edge("prompt", "gen", from_port="text", to_port="prompt")],
}


@pytest.fixture
def polls(monkeypatch):
    """The safety-net polling, recorded and never run."""
    sent = []
    monkeypatch.setattr(tasks, "node_follow_enqueue",
                        lambda node_run_id, *, polls=0, countdown=None: sent.append((node_run_id, polls, countdown)))
    return sent


@pytest.fixture
def nudges(monkeypatch):
    """Checks sent by the hook, recorded and then run as usual."""
    sent, real = [], tasks.node_follow_now

    def spy(node_run_id):
        sent.append(node_run_id)
        real(node_run_id)

    monkeypatch.setattr(tasks, "node_follow_now", spy)
    return sent


def test_the_workflows_app_listens_for_generation_ends():
    assert any(s.handler.__module__ == "apps.workflows.apps" for s in events.subscribers(events.GenerationFinished))


def test_a_generate_step_ends_when_its_generation_does_not_at_the_next_poll(
        user, polls, nudges, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, GRAPH)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"prompt": "a lighthouse"})
    run.refresh_from_db()
    gen = NodeRun.objects.get(run=run, node_id="gen")
    assert (run.status, gen.status, gen.generation.status) == (RunStatus.SUCCEEDED, NodeStatus.SUCCEEDED, "succeeded")
    # The hook sent one check for this step; the polling chain was only ever started (first check,
    # no countdown) and never ran, so it did not finish the step.
    assert nudges == [str(gen.pk)]
    assert polls == [(str(gen.pk), 0, None)]


def test_the_hook_is_idempotent_and_ignores_generations_no_step_waits_on(
        user, polls, nudges, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, GRAPH)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"prompt": "a lighthouse"})
    gen = NodeRun.objects.get(run=run, node_id="gen")
    before = (gen.revision, gen.charged_credits, gen.finished_at)
    nudges.clear()
    # Announced again (a stale finisher): the step already ended, nothing is sent or changed.
    with django_capture_on_commit_callbacks(execute=True):
        events.emit(events.GenerationFinished(user_id=user.pk, generation_id=str(gen.generation_id),
                                              status="succeeded"))
    assert nudges == []
    gen.refresh_from_db()
    assert (gen.revision, gen.charged_credits, gen.finished_at) == before
    assert services.node_generation_ended(generation_id=gen.generation_id) == 0


def test_a_step_waiting_on_a_queued_generation_is_nudged_only_once_it_ends(
        user, polls, nudges, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, GRAPH)
    run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"prompt": "a lighthouse"})
    for node_id in ("prompt", "gen"):  # as a worker would; the generation itself stays queued
        services.node_run_execute(node_run_id=NodeRun.objects.get(run=run, node_id=node_id).pk)
    gen = NodeRun.objects.get(run=run, node_id="gen")
    assert gen.status == NodeStatus.RUNNING
    # A check now finds the generation still going: the step keeps running.
    assert services.node_generation_ended(generation_id=gen.generation_id) == 1
    gen.refresh_from_db()
    assert gen.status == NodeStatus.RUNNING
    with django_capture_on_commit_callbacks(execute=True):  # the end is announced at commit
        generation_services.generation_run(generation_id=gen.generation_id)
    assert nudges[-1] == str(gen.pk)
    gen.refresh_from_db()
    run.refresh_from_db()
    assert (gen.status, run.status) == (NodeStatus.SUCCEEDED, RunStatus.SUCCEEDED)
