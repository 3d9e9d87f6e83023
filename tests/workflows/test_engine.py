"""The engine: a whole run, parallel enqueue of ready nodes, retries, resume, cancel, fallbacks."""

from unittest import mock

import pytest

from apps.core.exceptions import NotFoundError
from apps.credits.models import CreditAccount
from apps.media.models import Upload
from apps.workflows import services, tasks
from apps.workflows.exceptions import NodeNotRetryableError, RunNotResumableError, WorkflowInvalidError
from apps.workflows.models import NodeRun, NodeStatus, RunStatus

from .conftest import diamond
from .factories import workflow_with

pytestmark = pytest.mark.usefixtures("catalog")


def states(run) -> dict:
    return dict(NodeRun.objects.filter(run=run).order_by("node_id").values_list("node_id", "status"))


def attempts(run) -> dict:
    return dict(NodeRun.objects.filter(run=run).order_by("node_id").values_list("node_id", "attempt"))


def start(user, photo, graph=None, *, callbacks, **kwargs):
    workflow = workflow_with(user, graph or diamond())
    with callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)}, **kwargs)
    run.refresh_from_db()
    return workflow, run


def test_a_run_executes_every_node_and_succeeds(user, photo, django_capture_on_commit_callbacks):
    _, run = start(user, photo, callbacks=django_capture_on_commit_callbacks)
    assert run.status == RunStatus.SUCCEEDED
    assert set(states(run).values()) == {NodeStatus.SUCCEEDED}
    composite = NodeRun.objects.get(run=run, node_id="composite")
    [image] = composite.outputs["image"]
    result = Upload.objects.get(pk=image["upload_id"])
    # The cut-out (96×72) upscaled 2× is fitted inside the colour-corrected backdrop (96×72).
    assert (result.owner, result.operation, result.width, result.height) == (user, "composite", 96, 72)
    assert composite.started_at >= max(
        NodeRun.objects.filter(run=run, node_id__in=["upscale", "colour"]).values_list("finished_at", flat=True)
    )
    assert not any(NodeRun.objects.filter(run=run).values_list("cached", flat=True))
    assert run.finished_at is not None and run.charged_credits == 0 and run.held_credits == 0


def test_every_ready_node_is_enqueued_at_once(user, photo, django_capture_on_commit_callbacks):
    """Both branches are queued by the one commit that finishes their parent, before either runs."""
    sent = []
    workflow = workflow_with(user, diamond())
    with mock.patch.object(tasks, "node_run_enqueue", lambda node_run_id, **kw: sent.append((node_run_id, kw))):
        with django_capture_on_commit_callbacks(execute=True):
            run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
        by_id = {str(pk): node_id for pk, node_id in NodeRun.objects.filter(run=run).values_list("pk", "node_id")}

        def execute(node_id):
            sent.clear()
            with django_capture_on_commit_callbacks(execute=True):
                services.node_run_execute(node_run_id=NodeRun.objects.get(run=run, node_id=node_id).pk)
            return [(by_id[pk], kw["queue"]) for pk, kw in sent]

        assert [(by_id[pk], kw["queue"]) for pk, kw in sent] == [("photo", "default")]
        assert execute("photo") == [("cutout", "media")]
        assert execute("cutout") == [("colour", "media"), ("upscale", "media")]
        assert states(run) == {
            "colour": "queued", "composite": "pending", "cutout": "succeeded", "photo": "succeeded", "upscale": "queued",
        }
        assert execute("upscale") == []  # the composite still waits on the colour branch
        assert NodeRun.objects.get(run=run, node_id="composite").waiting_on == 1
        assert execute("colour") == [("composite", "media")]
        assert execute("colour") == []  # a second delivery of the same message does nothing
        assert execute("composite") == []
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_a_failed_node_is_retried_alone_and_the_run_completes(user, photo, django_capture_on_commit_callbacks):
    _, run = start(user, photo, diamond(upscale_fail=1), callbacks=django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED
    assert run.error_message == "1 step failed. Retry it or resume the run."
    assert states(run) == {
        "colour": "succeeded", "composite": "pending", "cutout": "succeeded", "photo": "succeeded", "upscale": "failed",
    }
    upscale = NodeRun.objects.get(run=run, node_id="upscale")
    assert (upscale.error_code, upscale.error_message) == (
        "forced_failure", "Failed on purpose (test knob: the first 1 attempts fail).",
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.node_retry(user=user, run_id=run.pk, node_id="upscale")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.error_message == ""
    assert set(states(run).values()) == {NodeStatus.SUCCEEDED}
    assert attempts(run) == {"colour": 1, "composite": 1, "cutout": 1, "photo": 1, "upscale": 2}


def test_only_failed_nodes_of_open_runs_can_be_retried(user, photo, other_user, django_capture_on_commit_callbacks):
    _, run = start(user, photo, callbacks=django_capture_on_commit_callbacks)
    with pytest.raises(NodeNotRetryableError):
        services.node_retry(user=user, run_id=run.pk, node_id="upscale")
    with pytest.raises(NotFoundError):
        services.node_retry(user=other_user, run_id=run.pk, node_id="upscale")
    with pytest.raises(RunNotResumableError):
        services.run_resume(user=user, run_id=run.pk)


def test_a_failed_run_resumes_without_rerunning_what_succeeded(user, photo, django_capture_on_commit_callbacks):
    graph = diamond(upscale_fail=1)
    graph["nodes"][3]["params"]["fail_attempts"] = 1  # the colour branch fails too
    _, run = start(user, photo, graph, callbacks=django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED and run.error_message == "2 steps failed. Retry them or resume the run."
    uploads = Upload.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        services.run_resume(user=user, run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert attempts(run) == {"colour": 2, "composite": 1, "cutout": 1, "photo": 1, "upscale": 2}
    assert Upload.objects.count() == uploads + 3  # upscale, colour, composite: nothing else again


def test_a_retry_policy_retries_by_itself(user, photo, django_capture_on_commit_callbacks):
    graph = diamond(upscale_fail=2)
    graph["nodes"][2]["retry"] = {"max_attempts": 3, "backoff_seconds": 0}
    _, run = start(user, photo, graph, callbacks=django_capture_on_commit_callbacks)
    assert run.status == RunStatus.SUCCEEDED
    assert attempts(run)["upscale"] == 3


def test_cancel_stops_queued_and_waiting_nodes_and_returns_the_credits(user, photo, settings):
    settings.WORKFLOW_LOCAL_OPERATION_CREDITS = 2
    workflow = workflow_with(user, diamond())
    run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})  # nothing runs
    assert CreditAccount.objects.get(user=user).balance == 92
    services.run_cancel(user=user, run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED and run.held_credits == 0
    assert set(states(run).values()) == {NodeStatus.CANCELED}
    assert CreditAccount.objects.get(user=user).balance == 100
    services.run_cancel(user=user, run_id=run.pk)  # twice is harmless
    services.node_run_execute(node_run_id=NodeRun.objects.get(run=run, node_id="photo").pk)  # a late message
    assert states(run)["photo"] == NodeStatus.CANCELED


def test_inputs_are_checked_and_owner_scoped(user, other_user, photo):
    workflow = workflow_with(user, diamond())
    with pytest.raises(WorkflowInvalidError) as missing:
        services.run_start(user=user, workflow_id=workflow.pk, inputs={})
    assert (missing.value.code, missing.value.errors) == (
        "invalid_inputs", [{"node": "photo", "field": None, "message": "Choose a photo for this input."}],
    )
    assert missing.value.message == "Photo input (photo): Choose a photo for this input."
    theirs = workflow_with(other_user, diamond())
    with pytest.raises(WorkflowInvalidError) as foreign:
        services.run_start(user=other_user, workflow_id=theirs.pk, inputs={"photo": str(photo.pk)})
    assert foreign.value.errors == [{"node": "photo", "field": None, "message": "Photo not found."}]
    with pytest.raises(NotFoundError):
        services.run_start(user=other_user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    with pytest.raises(WorkflowInvalidError) as extra:
        services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk), "nope": "x"})
    assert extra.value.errors == [{"node": "nope", "field": None, "message": "This workflow has no input by that name."}]
