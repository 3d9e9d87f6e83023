"""The image-to-video node: a photo becomes a clip through a video generation (the offline motion
engine), charged per second of video; the starter runs, and the run page plays the clip."""

import re

import pytest
from django.test import Client

from apps.credits.models import CreditAccount, LedgerEntry
from apps.generations.workflow_nodes import ImageToVideoNode
from apps.imaging import video
from apps.media.storage import file_read
from apps.workflows import services
from apps.workflows.exceptions import WorkflowInvalidError
from apps.workflows.models import NodeRun, RunStatus

from .conftest import edge, node
from .factories import workflow_with

pytestmark = pytest.mark.usefixtures("catalog")


def balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def test_the_photo_to_video_starter_runs_and_charges_per_second(user, photo, starters,
                                                                 django_capture_on_commit_callbacks):
    workflow = services.workflow_from_starter(user=user, starter_key="photo-to-video")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    run.refresh_from_db()
    step = NodeRun.objects.get(run=run, node_id="video")
    assert run.status == RunStatus.SUCCEEDED, (step.error_code, step.error_message)
    # Offline Motion: 1 credit a second at 720p, 4 s.
    assert (run.quoted_credits, run.charged_credits, step.charged_credits, balance(user)) == (4, 4, 4, 96)
    assert LedgerEntry.objects.filter(user=user, kind="capture").count() == 1
    [clip] = step.outputs["video"]
    assert (clip["content_type"], clip["duration_seconds"]) == ("video/mp4", 4.0)
    assert clip["thumbnail"] and clip["preview"]
    info = video.video_validate(file_read(clip["file"]))
    assert (info.codec, info.frames, info.width / info.height) == ("h264", 96, pytest.approx(4 / 3, rel=0.02))
    generation = step.generation
    assert (generation.catalog_model.slug, generation.params["duration_seconds"]) == ("offline-motion", 4)

    browser = Client()
    browser.force_login(user)
    page = browser.get(f"/workflows/runs/{run.pk}/").content.decode()
    player = re.search(r'<video class="wf-video"[^>]*>', page).group(0)
    assert 'poster="/files/' in player and 'preload="metadata"' in player and "controls" in player
    assert re.search(r'<source src="/files/[^"]+" type="video/mp4">', page) and "video · 4 s" in page


def test_the_duration_maps_to_the_nearest_length_the_model_offers(user, photo, django_capture_on_commit_callbacks):
    graph = {"nodes": [node("photo", "input_photo"),
                       node("clip", "image_to_video", model="offline-motion", duration_seconds=3, seed="5")],
             "edges": [edge("photo", "clip")]}
    node_type = ImageToVideoNode()
    assert node_type.price({"model": "offline-motion", "duration_seconds": 3}, []) == 2
    assert node_type.price({"model": "offline-motion", "duration_seconds": 10}, []) == 4
    workflow = workflow_with(user, graph)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    run.refresh_from_db()
    step = NodeRun.objects.get(run=run, node_id="clip")
    assert (run.status, step.outputs["video"][0]["duration_seconds"], balance(user)) == (RunStatus.SUCCEEDED, 2.0, 98)
    # Seeded: the same clip again comes from the cache, free.
    with django_capture_on_commit_callbacks(execute=True):
        again = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
    again_step = NodeRun.objects.get(run=again, node_id="clip")
    assert again_step.cached and again_step.outputs == step.outputs and balance(user) == 98


def test_a_video_model_that_cannot_start_from_a_photo_is_refused(user):
    graph = {"nodes": [node("photo", "input_photo"), node("clip", "image_to_video", model="veo-video")],
             "edges": [edge("photo", "clip")]}
    with pytest.raises(WorkflowInvalidError) as raised:
        workflow_with(user, graph)
    assert [(e["node"], e["field"]) for e in raised.value.errors] == [("clip", "model")]
