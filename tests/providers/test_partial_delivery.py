"""Users pay for what they received: a provider that answers fewer images than asked (the
simulator's `missing_outputs` knob) is charged the quote for the images delivered, and the rest of
the hold is released — for a single generation, a workflow's generate step and a batch's items.

Ledger rows for 2 images asked at 3 credits each (flux-dev), 1 delivered:
reserve −6, capture 0 ("Charged 3 credits: 1 of 2 images delivered"), release +3 ("Returned 3
credits: 1 of 2 images not delivered"): the balance moves by −3 in all."""

import pytest
from django.test import Client

from apps.accounts.services import api_key_create
from apps.batches import services as batch_services
from apps.batches.schemas import batch_out
from apps.catalog import pricing
from apps.catalog.models import CatalogModel
from apps.credits.models import CreditAccount, LedgerEntry
from apps.credits.services import credits_reconcile
from apps.generations import services
from apps.generations.models import Generation, Status
from apps.workflows import services as workflow_services
from apps.workflows import tasks as workflow_tasks
from apps.workflows.models import NodeRun, RunStatus
from tests.providers.conftest import poll_until_done
from tests.workflows.conftest import edge, node
from tests.workflows.factories import workflow_with

CREATE = "replicate:POST /replicate/v1/models/black-forest-labs/flux-dev/predictions"


@pytest.fixture
def short(simulator, catalog, settings, scheduled_polls):
    """Replicate answers one image fewer than asked; no webhooks (polling finishes the jobs)."""
    settings.PROVIDER_WEBHOOK_BASE_URL = ""
    simulator.knobs("replicate", job_seconds=0.2, missing_outputs=1)
    return simulator


def moves(generation) -> list[tuple]:
    return list(
        LedgerEntry.objects.filter(generation=generation).order_by("id").values_list("kind", "amount", "memo")
    )


def balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def no_mismatches() -> None:
    report = credits_reconcile()
    assert report["balance_mismatches"] == report["settlement_mismatches"] == report["spend_mismatches"] == []


def test_two_asked_one_delivered_charges_one_and_releases_the_other(short, user):
    flux_dev = CatalogModel.objects.get(slug="flux-dev")
    assert pricing.quote(catalog_model=flux_dev, num_images=2) == 6
    assert pricing.quote(catalog_model=flux_dev, num_images=1) == 3

    generation = services.generation_create(user=user, model_slug="flux-dev", prompt="two kites", num_images=2)
    services.generation_run(generation_id=generation.id)
    poll_until_done(generation.id)

    generation.refresh_from_db()
    assert (generation.status, generation.images.count()) == (Status.SUCCEEDED, 1)
    assert (generation.quoted_credits, generation.images_delivered, generation.charged_credits) == (6, 1, 3)
    assert short.stats()[CREATE] == 1  # one provider job, never resubmitted for the missing image
    assert moves(generation) == [
        ("reserve", -6, "Held for a generation"),
        ("capture", 0, "Charged 3 credits: 1 of 2 images delivered"),
        ("release", 3, "Returned 3 credits: 1 of 2 images not delivered"),
    ]
    assert balance(user) == 100 - 3
    no_mismatches()

    # The API and the card say what came and what it cost.
    secret = api_key_create(user=user, name="tests").secret
    body = Client().get(f"/api/v1/generations/{generation.id}", headers={"Authorization": f"Bearer {secret}"}).json()
    assert (body["num_images"], body["images_delivered"], body["quoted_credits"], body["charged_credits"]) == (2, 1, 6, 3)
    assert len(body["images"]) == 1
    client = Client()
    client.force_login(user)
    page = client.get(f"/generations/{generation.id}/").content.decode()
    assert "1 of 2 images delivered: charged 3 credits, 3 returned." in page
    assert "3 credits charged for 1 of 2 images delivered (3 of the 6 held returned)" in page


def test_every_image_delivered_is_charged_the_whole_quote_with_no_release(short, user):
    short.knobs("replicate", missing_outputs=0)
    generation = services.generation_create(user=user, model_slug="flux-dev", prompt="two kites", num_images=2)
    services.generation_run(generation_id=generation.id)
    poll_until_done(generation.id)

    generation.refresh_from_db()
    assert (generation.status, generation.images_delivered, generation.charged_credits) == (Status.SUCCEEDED, 2, 6)
    assert moves(generation) == [("reserve", -6, "Held for a generation"), ("capture", 0, "Charged 6 credits")]
    assert balance(user) == 94
    no_mismatches()


def test_no_image_at_all_still_fails_and_releases_everything(short, user):
    short.knobs("replicate", fail_job_rate=1.0)
    generation = services.generation_create(user=user, model_slug="flux-dev", prompt="two kites", num_images=2)
    services.generation_run(generation_id=generation.id)
    poll_until_done(generation.id)

    generation.refresh_from_db()
    assert (generation.status, generation.images_delivered, generation.charged_credits) == (Status.FAILED, 0, 0)
    assert moves(generation) == [
        ("reserve", -6, "Held for a generation"), ("release", 6, "Returned: the generation did not complete"),
    ]
    assert balance(user) == 100
    no_mismatches()


def test_a_workflow_generate_step_is_charged_what_its_generation_delivered(
        short, user, monkeypatch, django_capture_on_commit_callbacks):
    # The workflows' safety-net polling is recorded, never run: the generation's end finishes the step.
    monkeypatch.setattr(workflow_tasks, "node_follow_enqueue", lambda node_run_id, **kwargs: None)
    graph = {
        "nodes": [node("prompt", "input_text"),
                  node("gen", "generate", model="flux-dev", tier="", num_images=2, seed="")],
        "edges": [edge("prompt", "gen", from_port="text", to_port="prompt")],
    }
    workflow = workflow_with(user, graph)
    with django_capture_on_commit_callbacks(execute=True):
        run = workflow_services.run_start(user=user, workflow_id=workflow.pk, inputs={"prompt": "two kites"})
    step = NodeRun.objects.get(run=run, node_id="gen")
    with django_capture_on_commit_callbacks(execute=True):
        poll_until_done(step.generation_id)

    run.refresh_from_db()
    step.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert (run.quoted_credits, step.charged_credits, run.charged_credits, run.held_credits) == (6, 3, 3, 0)
    assert len(step.outputs["image"]) == 1
    assert short.stats()[CREATE] == 1
    rows = list(LedgerEntry.objects.filter(user=user).exclude(kind="grant").order_by("id").values_list("kind", "amount"))
    # The run's hold, handed to the generation, which holds 6, charges 3 and returns 3.
    assert rows == [("reserve", -6), ("release", 6), ("reserve", -6), ("capture", 0), ("release", 3)]
    assert balance(user) == 97
    no_mismatches()


def test_a_batch_shows_what_its_items_were_charged(short, user, django_capture_on_commit_callbacks):
    items = [{"model": "flux-dev", "prompt": f"kite {n}", "num_images": 2} for n in range(2)]
    batch = batch_services.batch_create(user=user, items=items, source="prompts")
    generations = list(Generation.objects.filter(batch_item__batch=batch).order_by("batch_item__index"))
    for generation in generations:
        services.generation_run(generation_id=generation.id)
    with django_capture_on_commit_callbacks(execute=True):
        for generation in generations:
            poll_until_done(generation.id)

    batch.refresh_from_db()
    out = batch_out(batch)
    assert (out["quoted_credits"], out["charged_credits"], out["images_delivered"]) == (12, 6, 2)
    assert (out["status"], out["counts"]["succeeded"]) == ("finished", 2)
    assert short.stats()[CREATE] == 2
    assert [moves(generation) for generation in generations] == [[
        ("reserve", -6, "Held for a generation"),
        ("capture", 0, "Charged 3 credits: 1 of 2 images delivered"),
        ("release", 3, "Returned 3 credits: 1 of 2 images not delivered"),
    ]] * 2
    assert balance(user) == 94
    client = Client()
    client.force_login(user)
    page = client.get(f"/batches/{batch.pk}/").content.decode()
    assert 'Reserved 12 credits; charged <strong data-charged="6">6</strong> for 2 images delivered.' in page
    no_mismatches()
