"""The face swap node on the catalogue's face-swap model (offline here: no provider keys), the
"portrait → colour correct → face swap" starter end to end on photos with faces, and a photo
without a face failing the step clearly, uncharged."""

import io

import pytest
from PIL import Image

from apps.credits.models import CreditAccount
from apps.generations.models import Generation
from apps.generations.models import Status as GenerationStatus
from apps.imaging.face_swap import detect_largest_face
from apps.media.storage import file_read
from apps.workflows import services
from apps.workflows.engine.graph import graph_validate
from apps.workflows.engine.registry import node_type_get
from apps.workflows.models import NodeRun, NodeStatus, RunStatus
from tests.imaging.faces import other_face_bytes, portrait_bytes
from tests.media.factories import UploadFactory

from .conftest import edge, node
from .factories import workflow_with

pytestmark = pytest.mark.usefixtures("catalog")

SIZE = (480, 400)


@pytest.fixture
def portrait(user):
    return UploadFactory(owner=user, content=portrait_bytes(width=SIZE[0], height=SIZE[1], centre=(240, 200),
                                                            scale=0.85), width=SIZE[0], height=SIZE[1])


@pytest.fixture
def face(user):
    return UploadFactory(owner=user, content=other_face_bytes(), width=360, height=360)


def balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


def opened(image_ref: dict) -> Image.Image:
    image = Image.open(io.BytesIO(file_read(image_ref["file"])))
    image.load()
    return image


def test_the_inputs_are_real_faces(portrait, face):
    for upload in (portrait, face):
        assert detect_largest_face(Image.open(io.BytesIO(file_read(upload.file)))) is not None


def test_the_node_is_available_and_defaults_to_the_catalogue_model():
    swap = node_type_get("face_swap")
    assert swap.unavailable_reason({"model": "face-swap"}) == ""
    graph = graph_validate({
        "nodes": [node("photo", "input_photo"), node("face", "input_photo"), node("swap", "face_swap")],
        "edges": [edge("photo", "swap"), edge("face", "swap", to_port="face")],
    })
    assert graph.nodes["swap"]["params"]["model"] == "face-swap"
    assert services.workflow_quote(graph=graph) == 2


def test_the_portrait_starter_runs_end_to_end(user, portrait, face, starters, django_capture_on_commit_callbacks):
    workflow = services.workflow_from_starter(user=user, starter_key="portrait-face-swap")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk,
                                 inputs={"portrait": str(portrait.pk), "face": str(face.pk)})
    run.refresh_from_db()
    nodes = {n.node_id: n for n in NodeRun.objects.filter(run=run)}
    assert run.status == RunStatus.SUCCEEDED, {k: (n.status, n.error_message) for k, n in nodes.items()}
    swap = nodes["swap"]
    generation = swap.generation
    assert (generation.status, generation.provider, generation.catalog_model.slug) == (
        GenerationStatus.SUCCEEDED, "offline", "face-swap")
    # The swap started from the colour-corrected portrait, and the face photo as its face.
    inputs = generation.params["inputs"]
    colour = nodes["colour"].outputs["image"][0]
    assert inputs["image_sha256"] == colour["sha256"] and inputs["reference_sha256"] == [face.sha256]
    result = swap.outputs["image"][0]
    assert (result["width"], result["height"]) == SIZE
    assert result["sha256"] != colour["sha256"] and detect_largest_face(opened(result)) is not None
    assert (swap.charged_credits, run.charged_credits, balance(user)) == (2, 2, 98)


def test_a_face_photo_without_a_face_fails_the_step_clearly_and_costs_nothing(
        user, portrait, starters, django_capture_on_commit_callbacks):
    faceless = UploadFactory(owner=user)
    workflow = services.workflow_from_starter(user=user, starter_key="portrait-face-swap")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=user, workflow_id=workflow.pk,
                                 inputs={"portrait": str(portrait.pk), "face": str(faceless.pk)})
    run.refresh_from_db()
    swap = NodeRun.objects.get(run=run, node_id="swap")
    assert (run.status, swap.status, swap.error_code, swap.attempt) == (RunStatus.FAILED, NodeStatus.FAILED, "no_face", 1)
    assert swap.error_message.startswith("No face found in the face photo.")
    assert Generation.objects.get().status == GenerationStatus.FAILED
    assert balance(user) == 100 and run.charged_credits == 0


def test_with_no_face_swap_model_in_the_catalogue_the_node_saves_but_refuses_to_run(user):
    from apps.catalog.models import CatalogModel
    from apps.workflows.exceptions import WorkflowInvalidError

    graph = {"nodes": [node("photo", "input_photo"), node("face", "input_photo"), node("swap", "face_swap")],
             "edges": [edge("photo", "swap"), edge("face", "swap", to_port="face")]}
    workflow = workflow_with(user, graph)
    CatalogModel.objects.filter(capabilities__contains=["face-swap"]).delete()
    with pytest.raises(WorkflowInvalidError) as raised:
        services.run_start(user=user, workflow_id=workflow.pk, inputs={})
    assert (raised.value.code, raised.value.errors) == ("node_unavailable", [{
        "node": "swap", "field": None,
        "message": "Face swap is not available on this server: no face-swap model is in the catalogue.",
    }])
