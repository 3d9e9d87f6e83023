"""The `review` workflow node on real generated images, and verdicts on the run page."""

import pytest

from apps.review.services import policy_get
from apps.workflows import services
from apps.workflows.models import NodeRun, RunStatus
from tests.workflows.conftest import edge, node
from tests.workflows.factories import workflow_with

pytestmark = pytest.mark.usefixtures("catalog")


def graph(**review):
    return {
        "nodes": [node("prompt", "input_text"),
                  node("gen", "generate", model="offline-sketch", tier="draft", num_images=3, seed="7"),
                  node("check", "review", **review)],
        "edges": [edge("prompt", "gen", from_port="text", to_port="prompt"), edge("gen", "check")],
    }


def run_it(user, graph, callbacks):
    workflow = workflow_with(user, graph)
    with callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"prompt": "a lighthouse"})
    run.refresh_from_db()
    return run


def test_best_of_n_keeps_the_best_scored_image(user, django_capture_on_commit_callbacks):
    run = run_it(user, graph(mode="best", keep=1), django_capture_on_commit_callbacks)
    assert run.status == RunStatus.SUCCEEDED, NodeRun.objects.filter(run=run).values_list("node_id", "error_message")
    check = NodeRun.objects.get(run=run, node_id="check")
    reviews = check.meta["reviews"]
    assert len(reviews) == 3
    assert [j["name"] for j in reviews[0]["judges"]] == ["safety", "format", "quality"]
    best = min(reviews, key=lambda r: ({"green": 0, "amber": 1, "red": 2}[r["verdict"]], -r["quality_score"]))
    assert [ref["sha256"] for ref in check.outputs["image"]] == [best["sha256"]]


def test_the_gate_passes_on_only_good_enough_images_and_fails_when_none_are(user, django_capture_on_commit_callbacks):
    run = run_it(user, graph(mode="gate", at_least="amber"), django_capture_on_commit_callbacks)
    check = NodeRun.objects.get(run=run, node_id="check")
    passed = [r["sha256"] for r in check.meta["reviews"] if r["verdict"] != "red"]
    assert [ref["sha256"] for ref in check.outputs["image"]] == passed
    policy = policy_get()
    policy.thresholds = {"quality_min": 1.1, "sharpness_min": 1.1}  # the quality judge fails every image
    policy.regenerate_on_red = False
    policy.save()
    run = run_it(user, graph(mode="gate", at_least="green"), django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED
    check = NodeRun.objects.get(run=run, node_id="check")
    assert check.error_code == "review_failed"
    assert check.error_message.startswith("No image passed its review: ")
    assert "The image looks blurry: edges are soft throughout." in check.error_message


def test_the_run_page_shows_each_steps_verdict(user, client, django_capture_on_commit_callbacks):
    run = run_it(user, graph(mode="best"), django_capture_on_commit_callbacks)
    client.force_login(user)
    page = client.get(f"/workflows/runs/{run.pk}/").content.decode()
    check = NodeRun.objects.get(run=run, node_id="check")
    assert f'<span class="review-verdict verdict-{check.meta["verdict"]}"' in page
    # The generate step's images were reviewed as generations: it shows their verdict too.
    assert page.count('class="review-verdict ') == 2
