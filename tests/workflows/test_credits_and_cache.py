"""Credits: the quote is held, each succeeded node is charged its share, the rest is returned.
Cache: an unchanged node reuses an earlier output for free; force re-run skips the cache."""

import pytest

from apps.core.exceptions import ApplicationError
from apps.credits.models import CreditAccount, LedgerEntry
from apps.credits.services import credits_reconcile
from apps.media.models import Upload
from apps.workflows import services
from apps.workflows.models import NodeRun, RunStatus
from tests.media.factories import UploadFactory

from .conftest import diamond
from .factories import workflow_with

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture(autouse=True)
def priced(settings):
    settings.WORKFLOW_LOCAL_OPERATION_CREDITS = 2


def balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def ledger(user, run) -> list[tuple]:
    entries = LedgerEntry.objects.filter(user=user, idempotency_key__startswith=f"workflow-run:{run.pk}:").order_by("id")
    nodes = {str(pk): node_id for pk, node_id in NodeRun.objects.filter(run=run).values_list("pk", "node_id")}
    out = []
    for kind, amount, key in entries.values_list("kind", "amount", "idempotency_key"):
        key = key.removeprefix(f"workflow-run:{run.pk}:")
        for pk, node_id in nodes.items():
            key = key.replace(pk, node_id)
        out.append((kind, amount, key))
    return out


def run_once(user, workflow, photo, callbacks, **kwargs):
    with callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)}, **kwargs)
    run.refresh_from_db()
    return run


def charged(run) -> dict:
    return dict(NodeRun.objects.filter(run=run).order_by("node_id").values_list("node_id", "charged_credits"))


def test_credits_charged_are_the_sum_of_the_nodes_that_succeeded(user, photo, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, diamond(upscale_fail=1))
    run = run_once(user, workflow, photo, django_capture_on_commit_callbacks)
    assert (run.status, run.quoted_credits, run.charged_credits, run.held_credits) == (RunStatus.FAILED, 8, 4, 0)
    assert charged(run) == {"colour": 2, "composite": 0, "cutout": 2, "photo": 0, "upscale": 0}
    assert ledger(user, run) == [
        ("reserve", -8, "hold:1"),
        ("capture", 0, "node:cutout:capture"),
        ("capture", 0, "node:colour:capture"),
        ("release", 4, "release:1"),
    ]
    assert balance(user) == 100 - 4

    with django_capture_on_commit_callbacks(execute=True):
        services.node_retry(user=user, run_id=run.pk, node_id="upscale")
    run.refresh_from_db()
    assert (run.status, run.charged_credits, run.held_credits) == (RunStatus.SUCCEEDED, 8, 0)
    assert ledger(user, run)[4:] == [
        ("reserve", -4, "hold:2"),  # the retried upscale and the composite waiting on it
        ("capture", 0, "node:upscale:capture"),
        ("capture", 0, "node:composite:capture"),
    ]
    assert balance(user) == 100 - sum(charged(run).values()) == 92
    report = credits_reconcile()
    assert report["balance_mismatches"] == [] and report["spend_mismatches"] == []


def test_a_canceled_run_charges_only_what_finished(user, photo, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, diamond())
    run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    for node_id in ("photo", "cutout"):
        services.node_run_execute(node_run_id=NodeRun.objects.get(run=run, node_id=node_id).pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.run_cancel(user=user, run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.charged_credits) == (RunStatus.CANCELED, 2)
    assert ledger(user, run) == [("reserve", -8, "hold:1"), ("capture", 0, "node:cutout:capture"), ("release", 6, "release:1")]
    assert balance(user) == 98


def test_an_unchanged_rerun_reuses_every_node_for_free(user, photo, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, diamond())
    first = run_once(user, workflow, photo, django_capture_on_commit_callbacks)
    assert balance(user) == 92
    uploads = Upload.objects.count()

    second = run_once(user, workflow, photo, django_capture_on_commit_callbacks)
    assert second.status == RunStatus.SUCCEEDED
    nodes = NodeRun.objects.filter(run=second).select_related("cached_from")
    assert {(n.node_id, n.cached, n.charged_credits, n.cached_from.run_id) for n in nodes} == {
        (node_id, True, 0, first.pk) for node_id in ("photo", "cutout", "upscale", "colour", "composite")
    }
    assert {n.node_id: n.outputs for n in nodes} == {
        n.node_id: n.outputs for n in NodeRun.objects.filter(run=first)
    }
    assert Upload.objects.count() == uploads  # nothing was computed again
    assert ledger(user, second) == [("reserve", -8, "hold:1"), ("release", 8, "release:1")]
    assert (second.charged_credits, balance(user)) == (0, 92)


def test_force_rerun_skips_the_cache(user, photo, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, diamond())
    run_once(user, workflow, photo, django_capture_on_commit_callbacks)
    forced = run_once(user, workflow, photo, django_capture_on_commit_callbacks, force_rerun=True)
    assert not any(NodeRun.objects.filter(run=forced).values_list("cached", flat=True))
    assert forced.charged_credits == 8 and balance(user) == 84


def test_the_cache_follows_content_settings_and_owner(user, other_user, photo, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, diamond())
    run_once(user, workflow, photo, django_capture_on_commit_callbacks)

    # The same pixels uploaded again: same content hash, so still a hit.
    again = UploadFactory(owner=user, width=96, height=72)
    assert again.sha256 == photo.sha256
    assert all(NodeRun.objects.filter(run=run_once(user, workflow, again, django_capture_on_commit_callbacks))
               .values_list("cached", flat=True))

    # Another photo: nothing downstream of it matches.
    other = UploadFactory(owner=user, width=80, height=80)
    run = run_once(user, workflow, other, django_capture_on_commit_callbacks)
    assert not any(NodeRun.objects.filter(run=run).values_list("cached", flat=True))

    # A changed setting misses from that node on; what is upstream still hits.
    graph = diamond()
    graph["nodes"][3]["params"]["white_balance"] = "white_patch"
    services.workflow_version_create(user=user, workflow_id=workflow.pk, graph=graph)
    run = run_once(user, workflow, photo, django_capture_on_commit_callbacks)
    assert dict(NodeRun.objects.filter(run=run).values_list("node_id", "cached")) == {
        "photo": True, "cutout": True, "upscale": True, "colour": False, "composite": False,
    }

    # Another user never gets my outputs.
    theirs = workflow_with(other_user, diamond())
    their_photo = UploadFactory(owner=other_user, width=96, height=72)
    run = run_once(other_user, theirs, their_photo, django_capture_on_commit_callbacks)
    assert not any(NodeRun.objects.filter(run=run).values_list("cached", flat=True))


def test_a_deleted_output_is_not_reused(user, photo, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, diamond())
    first = run_once(user, workflow, photo, django_capture_on_commit_callbacks)
    composite = NodeRun.objects.get(run=first, node_id="composite")
    Upload.objects.filter(pk=composite.outputs["image"][0]["upload_id"]).delete()
    second = run_once(user, workflow, photo, django_capture_on_commit_callbacks)
    assert dict(NodeRun.objects.filter(run=second).values_list("node_id", "cached"))["composite"] is False


def test_a_run_the_balance_does_not_cover_is_refused_and_nothing_starts(user, photo, settings):
    settings.WORKFLOW_LOCAL_OPERATION_CREDITS = 30  # 4 steps × 30 = 120 > 100
    workflow = workflow_with(user, diamond())
    with pytest.raises(ApplicationError) as raised:
        services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    assert (raised.value.code, raised.value.http_status, raised.value.message) == (
        "insufficient_credits", 402, "This needs 120 credits and your balance is 100.",
    )
    assert not workflow.runs.exists() and balance(user) == 100
