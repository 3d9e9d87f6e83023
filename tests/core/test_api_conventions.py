import pytest

from apps.accounts.services import api_key_create
from tests.apiclient import ApiClient

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def api(user):
    return ApiClient(api_key_create(user=user, name="tests").secret)


def test_an_unknown_path_is_a_json_404(api):
    response = api.get("/no-such-thing")
    assert (response.status_code, response["Content-Type"], response.json()) == (
        404, "application/json; charset=utf-8", {"detail": "Not found.", "code": "not_found"},
    )


def test_a_method_the_path_lacks_is_a_json_405(api):
    response = api.client.put("/api/v1/balance", headers=api.headers)
    assert (response.status_code, response.json(), response["Allow"]) == (
        405, {"detail": "Method Not Allowed.", "code": "method_not_allowed"}, "GET",
    )


def test_pages_outside_the_api_keep_their_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_one_model_with_its_parameter_schema(api):
    body = api.get("/models/offline-sketch").json()
    assert body["capabilities"] == ["text-to-image"]
    assert body["parameters"] == {
        "type": "object",
        "properties": {
            "model": {"const": "offline-sketch"},
            "prompt": {"type": "string", "maxLength": 2000, "minLength": 1},
            "aspect_ratio": {"enum": ["1:1", "4:3", "3:4", "16:9", "9:16"], "default": "1:1"},
            "tier": {"enum": ["draft", "standard"], "default": "draft"},
            "num_images": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1},
            "seed": {"type": ["integer", "string"], "description": "0 to 2**64-1; random if omitted."},
        },
        "required": ["model", "prompt"],
        "additionalProperties": False,
    }
    assert api.get("/models").json()[0] == body
    edit = api.get("/models/offline-edit").json()["parameters"]
    assert edit["required"] == ["model", "image_upload_id"]
    assert {"image_upload_id", "mask_upload_id", "reference_upload_ids", "strength"} <= set(edit["properties"])
    response = api.get("/models/nope")
    assert (response.status_code, response.json()) == (404, {"detail": "Model not found.", "code": "not_found"})
