"""The generate node: a real generation (offline engine) per attempt, charged what the generation
was charged; retries, fallback models, cancel of the running job, cache with a seed; edits."""

import pytest

from apps.catalog.models import CatalogModel
from apps.credits.models import CreditAccount, LedgerEntry
from apps.generations.models import Generation
from apps.generations.models import Status as GenerationStatus
from apps.workflows import services
from apps.workflows.models import NodeRun, NodeStatus, RunStatus

from .conftest import edge, node
from .factories import workflow_with

pytestmark = pytest.mark.usefixtures("catalog")


def variations(*, seed="7", fallback=None, retry=None, num_images=2) -> dict:
    generate = node("gen", "generate", model="offline-sketch", tier="draft", num_images=num_images, seed=seed)
    if fallback:
        generate["fallback_models"] = fallback
    if retry:
        generate["retry"] = retry
    return {
        "nodes": [node("prompt", "input_text"), generate, node("best", "pick_best", keep=1),
                  node("big", "upscale", factor=2)],
        "edges": [edge("prompt", "gen", from_port="text", to_port="prompt"), edge("gen", "best"), edge("best", "big")],
    }


def balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def run_it(user, graph, callbacks, **kwargs):
    workflow = workflow_with(user, graph)
    with callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"prompt": "a lighthouse"}, **kwargs)
    run.refresh_from_db()
    return workflow, run


def test_prompt_variations_pick_best_upscale(user, django_capture_on_commit_callbacks):
    _, run = run_it(user, variations(), django_capture_on_commit_callbacks)
    assert run.status == RunStatus.SUCCEEDED, NodeRun.objects.filter(run=run).values_list("node_id", "error_message")
    gen = NodeRun.objects.get(run=run, node_id="gen")
    generation = gen.generation
    assert (generation.status, generation.prompt, generation.num_images) == (GenerationStatus.SUCCEEDED, "a lighthouse", 2)
    assert (gen.model, gen.charged_credits, run.quoted_credits, run.charged_credits) == ("offline-sketch", 2, 2, 2)
    assert len(gen.outputs["image"]) == 2
    best = NodeRun.objects.get(run=run, node_id="best")
    assert len(best.outputs["image"]) == 1 and len(best.meta["scores"]) == 2
    assert best.outputs["image"][0]["sha256"] == best.meta["scores"][0]["sha256"]
    big = NodeRun.objects.get(run=run, node_id="big").outputs["image"][0]
    assert (big["width"], big["height"]) == (best.outputs["image"][0]["width"] * 2, best.outputs["image"][0]["height"] * 2)
    # The run held 2, handed them to the generation, which held and charged its own 2.
    keys = list(LedgerEntry.objects.filter(user=user).exclude(kind="grant").order_by("id").values_list("kind", "amount"))
    assert keys == [("reserve", -2), ("release", 2), ("reserve", -2), ("capture", 0)]
    assert balance(user) == 98


def test_a_seeded_generate_node_is_cached_an_unseeded_one_is_not(user, django_capture_on_commit_callbacks):
    workflow, _ = run_it(user, variations(), django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        again = services.run_start(user=user, workflow_id=workflow.pk, inputs={"prompt": "a lighthouse"})
    assert dict(NodeRun.objects.filter(run=again).values_list("node_id", "cached")) == {
        "prompt": True, "gen": True, "best": True, "big": True,
    }
    assert Generation.objects.count() == 1 and balance(user) == 98

    workflow, _ = run_it(user, variations(seed=""), django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        fresh = services.run_start(user=user, workflow_id=workflow.pk, inputs={"prompt": "a lighthouse"})
    assert NodeRun.objects.get(run=fresh, node_id="gen").cached is False
    assert Generation.objects.count() == 3


def test_an_unavailable_model_falls_back_to_the_next(user, django_capture_on_commit_callbacks):
    CatalogModel.objects.filter(slug="offline-sketch").update(is_enabled=False, disabled_reason="Resting.")
    graph = variations(fallback=["offline-studio"])
    graph["nodes"][1]["params"]["tier"] = ""
    _, run = run_it(user, graph, django_capture_on_commit_callbacks)
    gen = NodeRun.objects.get(run=run, node_id="gen")
    # Held the dearer of the two (Studio: 3 a picture), charged what Studio cost.
    assert (run.status, run.quoted_credits, gen.model, gen.charged_credits) == (RunStatus.SUCCEEDED, 6, "offline-studio", 6)
    assert gen.generation.catalog_model.slug == "offline-studio"
    assert balance(user) == 94


def test_a_failing_engine_is_retried_then_fails_the_run_and_returns_everything(user, settings, django_capture_on_commit_callbacks):
    settings.OFFLINE_ENGINE_FAILURE_RATE = 1.0
    _, run = run_it(user, variations(retry={"max_attempts": 2, "backoff_seconds": 0}), django_capture_on_commit_callbacks)
    gen = NodeRun.objects.get(run=run, node_id="gen")
    assert (run.status, gen.status, gen.attempt, gen.error_code) == (RunStatus.FAILED, NodeStatus.FAILED, 2, "engine_failure")
    assert Generation.objects.filter(status=GenerationStatus.FAILED).count() == 2
    assert balance(user) == 100 and run.charged_credits == 0

    settings.OFFLINE_ENGINE_FAILURE_RATE = 0.0
    with django_capture_on_commit_callbacks(execute=True):
        services.node_retry(user=user, run_id=run.pk, node_id="gen")
    run.refresh_from_db()
    assert (run.status, run.charged_credits, balance(user)) == (RunStatus.SUCCEEDED, 2, 98)


def test_cancel_cancels_the_running_generation(user, django_capture_on_commit_callbacks):
    workflow = workflow_with(user, variations())
    run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"prompt": "a lighthouse"})
    for node_id in ("prompt", "gen"):  # as a worker would; the generation itself is left queued
        services.node_run_execute(node_run_id=NodeRun.objects.get(run=run, node_id=node_id).pk)
    gen = NodeRun.objects.get(run=run, node_id="gen")
    assert gen.status == NodeStatus.RUNNING and gen.generation.status == GenerationStatus.QUEUED
    assert balance(user) == 98  # the generation's hold
    with django_capture_on_commit_callbacks(execute=True):
        services.run_cancel(user=user, run_id=run.pk)
    gen.refresh_from_db()
    assert gen.status == NodeStatus.CANCELED and gen.generation.status == GenerationStatus.CANCELED
    assert balance(user) == 100


def test_edit_node_repaints_a_photo(user, photo, django_capture_on_commit_callbacks):
    graph = {"nodes": [node("photo", "input_photo"), node("edit", "edit", model="offline-edit", prompt="stained glass",
                                                            seed="3")],
             "edges": [edge("photo", "edit")]}
    workflow = workflow_with(user, graph)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    run.refresh_from_db()
    edit = NodeRun.objects.get(run=run, node_id="edit")
    assert run.status == RunStatus.SUCCEEDED, (edit.error_code, edit.error_message)
    assert edit.generation.params["inputs"]["image"] == str(photo.pk)
    assert edit.charged_credits == edit.generation.quoted_credits == 2
