"""The product photo pack with hosted routes, against the simulator: the cut-out, the two scenes,
the hero and the clip each run on a hosted model (fal first in their chains, in the providers'
real request and response shapes), and the run is charged what it quoted."""

import pytest

from apps.credits.services import credits_adjust
from apps.generations.models import ACTIVE, Generation
from apps.workflows import services as workflow_services
from apps.workflows import tasks as workflow_tasks
from apps.workflows.starters import starters_load
from tests.accounts.factories import UserFactory
from tests.media.factories import UploadFactory
from tests.providers.conftest import poll_until_done


@pytest.fixture
def sim(simulator):
    for vendor in ("fal", "replicate"):
        simulator.knobs(vendor, job_seconds=0.05)
    return simulator


def test_the_pack_runs_on_simulated_hosted_routes(sim, catalog, user, scheduled_polls, monkeypatch,
                                                  django_capture_on_commit_callbacks):
    # Eager tasks would run the steps' polling chain at once, to its end: the generation-ended
    # hook (one check when each generation ends) drives the run here, as it does in production.
    monkeypatch.setattr(workflow_tasks, "node_follow_enqueue", lambda *args, **kwargs: None)
    starters_load()
    staff = UserFactory()
    staff.is_staff = True
    credits_adjust(user=user, amount=100, reason="test", actor=staff)
    photo = UploadFactory(owner=user, width=96, height=72)
    workflow = workflow_services.workflow_from_starter(user=user, starter_key="product-photo-pack")
    with django_capture_on_commit_callbacks(execute=True):
        run = workflow_services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    for _ in range(20):
        active = list(Generation.objects.filter(status__in=ACTIVE).values_list("id", flat=True))
        if not active:
            break
        for generation_id in active:
            with django_capture_on_commit_callbacks(execute=True):
                poll_until_done(generation_id)
    run.refresh_from_db()
    nodes = {node.node_id: node for node in run.nodes.all()}
    assert run.status == "succeeded", [(n.node_id, n.status, n.error_message) for n in nodes.values()]
    made = {g.catalog_model.slug: g.provider for g in Generation.objects.filter(owner=user)}
    assert made == {"ai-cutout": "fal", "flux-kontext-pro": "replicate", "ai-upscale": "replicate",
                    "wan-animate": "replicate"}
    assert Generation.objects.filter(owner=user, catalog_model__slug="flux-kontext-pro").count() == 2
    assert nodes["clip"].outputs["video"][0]["content_type"] == "video/mp4"
    assert run.charged_credits == run.quoted_credits == 1 + 5 + 5 + 1 + 10 * 5
    stats = sim.stats()
    assert stats["fal:POST /fal/fal-ai/birefnet/v2"] == 1
    assert stats["replicate:POST /replicate/v1/models/black-forest-labs/flux-kontext-pro/predictions"] == 2
