"""Starter workflows ship in starters.toml and load like the catalogue (command and migrate)."""

from io import StringIO

import pytest
from django.core.management import call_command

from apps.workflows import services
from apps.workflows.engine.graph import graph_validate
from apps.workflows.models import StarterWorkflow
from apps.workflows.starters import StarterFileError, starters_load

pytestmark = pytest.mark.usefixtures("catalog")

KEYS = ["product-photo-pack", "product-photo-white", "four-variations-best", "portrait-face-swap", "photo-to-video"]


def test_the_command_upserts_the_file(db):
    StarterWorkflow.objects.all().delete()
    out = StringIO()
    call_command("workflow_starters_load", stdout=out)
    assert out.getvalue() == "Starter workflows loaded: 5 new, 0 updated.\n"
    assert list(StarterWorkflow.objects.values_list("key", flat=True)) == KEYS
    StarterWorkflow.objects.filter(key="photo-to-video").update(name="Edited by hand")
    assert starters_load() == (0, 1)
    assert StarterWorkflow.objects.get(key="photo-to-video").name == "Photo to video"


def test_every_starter_is_a_valid_graph_with_the_shipped_catalogue(starters):
    shapes = {}
    for starter in StarterWorkflow.objects.all():
        graph = graph_validate(starter.graph)
        shapes[starter.key] = [graph.nodes[n]["type"] for n in graph.nodes]
    assert shapes == {
        "product-photo-pack": ["input_photo", "edit", "composite", "edit", "edit", "edit", "image_to_video"],
        "product-photo-white": ["input_photo", "remove_background", "composite", "upscale"],
        "four-variations-best": ["input_text", "generate", "pick_best", "upscale"],
        "portrait-face-swap": ["input_photo", "input_photo", "color_correct", "face_swap"],
        "photo-to-video": ["input_photo", "image_to_video"],
    }


def test_the_product_photo_starter_runs(user, photo, starters, django_capture_on_commit_callbacks):
    workflow = services.workflow_from_starter(user=user, starter_key="product-photo-white")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    run.refresh_from_db()
    assert run.status == "succeeded"
    final = run.nodes.get(node_id="upscale").outputs["image"][0]
    # 96×72 with an 8 % margin of the long edge (8 px) each side, then 2×.
    assert (final["width"], final["height"]) == ((96 + 16) * 2, (72 + 16) * 2)


def test_the_variations_starter_runs(user, starters, django_capture_on_commit_callbacks):
    workflow = services.workflow_from_starter(user=user, starter_key="four-variations-best")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"prompt": "a red kite"})
    run.refresh_from_db()
    assert (run.status, run.charged_credits) == ("succeeded", 4)
    assert len(run.nodes.get(node_id="variations").outputs["image"]) == 4


def test_a_bad_node_type_in_the_file_is_refused(tmp_path, db):
    bad = tmp_path / "starters.toml"
    bad.write_text('[[workflows]]\nkey = "x"\nname = "X"\nnodes = [{ id = "a", type = "teleport" }]\n')
    with pytest.raises(StarterFileError, match="unknown node type 'teleport'"):
        starters_load(path=bad)


def test_the_product_photo_pack_runs_offline_priced_up_front(user, photo, starters,
                                                             django_capture_on_commit_callbacks):
    """No provider configured: the AI cut-out and upscale models run their offline last routes, the
    lifestyle scenes and the clip fall back to the offline models; the quote was the dearest (the
    hosted clip: 5 s at its cost-based 10 credits a second), the charge what ran (a 4-second offline clip)."""
    workflow = services.workflow_from_starter(user=user, starter_key="product-photo-pack")
    assert services.workflow_quote(graph=workflow.versions.get().loaded) == 1 + 5 + 5 + 1 + 10 * 5
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    run.refresh_from_db()
    assert run.status == "succeeded", [(n.node_id, n.status, n.error_message) for n in run.nodes.all()]
    nodes = {node.node_id: node for node in run.nodes.all()}
    white = nodes["white"].outputs["image"][0]
    assert (white["width"], white["height"]) == (96 + 16, 72 + 16)
    hero = nodes["hero"].outputs["image"][0]
    assert (hero["width"], hero["height"]) == ((96 + 16) * 2, (72 + 16) * 2)
    assert nodes["kitchen"].model == nodes["outdoors"].model == "offline-edit"
    assert nodes["clip"].outputs["video"][0]["content_type"] == "video/mp4"
    assert nodes["clip"].model == "offline-motion"
    assert run.charged_credits == 1 + 2 + 2 + 1 + 4
