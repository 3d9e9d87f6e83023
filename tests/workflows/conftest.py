import pytest

from apps.workflows.starters import starters_load
from tests.media.factories import UploadFactory


def node(node_id, type_key, **params):
    return {"id": node_id, "type": type_key, "params": params}


def edge(source, target, *, from_port="image", to_port="image"):
    return {"from": source, "from_port": from_port, "to": target, "to_port": to_port}


def diamond(*, upscale_fail: int = 0) -> dict:
    """photo → remove background → (upscale ‖ colour correct) → composite (upscaled subject on the
    colour-corrected backdrop): the issue's done-when graph."""
    return {
        "nodes": [
            node("photo", "input_photo"),
            node("cutout", "remove_background"),
            node("upscale", "upscale", factor=2, fail_attempts=upscale_fail),
            node("colour", "color_correct"),
            node("composite", "composite", padding=4),
        ],
        "edges": [
            edge("photo", "cutout"),
            edge("cutout", "upscale"),
            edge("cutout", "colour"),
            edge("upscale", "composite"),
            edge("colour", "composite", to_port="backdrop"),
        ],
    }


@pytest.fixture
def photo(user):
    return UploadFactory(owner=user, width=96, height=72)


@pytest.fixture
def starters(db):
    starters_load()
