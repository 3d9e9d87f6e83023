"""The reaper re-sends nodes whose message was lost or whose worker died; the admin shows runs."""

from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from apps.workflows import services, tasks
from apps.workflows.models import NodeRun, NodeStatus, RunStatus
from apps.workflows.services import scheduling
from tests.accounts.factories import UserFactory

from .conftest import diamond
from .factories import workflow_with

pytestmark = pytest.mark.usefixtures("catalog")


def test_lost_and_stale_nodes_are_sent_again_and_finish(user, photo, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, diamond())
    run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})  # message "lost"
    assert services.workflows_reap_stuck() == {"redriven": 0, "followed": 0}  # too early to tell
    NodeRun.objects.filter(run=run, node_id="photo").update(queued_at=timezone.now() - timedelta(minutes=3))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.workflows_reap_stuck() == {"redriven": 1, "followed": 0}
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED

    # A worker died mid-step: the step stays "running" until it is stale, then is taken over.
    run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)}, force_rerun=True)
    photo_node = NodeRun.objects.get(run=run, node_id="photo")
    assert scheduling.node_claim(photo_node.pk) is not None
    with mock.patch.object(tasks, "node_run_enqueue") as sent:
        services.workflows_reap_stuck()
    sent.assert_not_called()
    NodeRun.objects.filter(pk=photo_node.pk).update(started_at=timezone.now() - timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.workflows_reap_stuck()["redriven"] == 1
    photo_node.refresh_from_db()
    assert (photo_node.status, photo_node.attempt) == (NodeStatus.SUCCEEDED, 2)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_staff_see_runs_and_can_cancel_them_in_the_admin(user, photo):
    workflow = workflow_with(user, diamond())
    run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    staff = UserFactory()
    staff.is_staff = staff.is_superuser = True
    staff.save(update_fields=["is_staff", "is_superuser"])
    admin = Client()
    admin.force_login(staff)
    for path in ("/admin/workflows/workflowrun/", f"/admin/workflows/workflowrun/{run.pk}/change/",
                 "/admin/workflows/workflow/", f"/admin/workflows/workflow/{workflow.pk}/change/",
                 "/admin/workflows/starterworkflow/"):
        assert admin.get(path).status_code == 200, path
    response = admin.post("/admin/workflows/workflowrun/", {"action": "cancel_runs", "_selected_action": [str(run.pk)]})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED
