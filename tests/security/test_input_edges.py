"""Classes of bad input, each sent to every endpoint and page that could meet it: JSON nested 1,000
deep, lone surrogates, page cursors that decode but hold the wrong type, and Django's own request
parsing limits. Every answer is a 4xx in the interface's error shape — `{detail, code}` on /api/v1,
OpenAI's `{error}` on /v1, the error page on HTML pages — never a 500.
"""

import base64
import json

import pytest
from django.urls import reverse

from apps.core.pagination import encode_cursor
from tests.security.conftest import client_for, tally

DEEP = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000
DEEP_WITH_NUL = '{"prompt": "\\u0000", "x": ' + DEEP + "}"
DEEP_UNCLOSED = '{"a":' * 1000

HTML_POSTS = ["/generations/new/", "/workflows/new/", "/batches/", "/account/webhooks/", "/accounts/login/",
              "/photos/upload/", "/healthz", "/no/such/page/"]


def _api_operations(client, prefix="/api/v1"):
    """(method, path) for every operation of an API's schema, ids filled with a made-up UUID."""
    paths = client.get(f"{prefix}/openapi.json").json()["paths"]
    found = []
    for template, operations in paths.items():
        path = template
        while "{" in path:
            start, end = path.index("{"), path.index("}")
            path = path[:start] + "00000000-0000-4000-8000-000000000000" + path[end + 1:]
        found += [(method, path, operation) for method, operation in operations.items()]
    return found


def _assert_api_error(response, where):
    assert 400 <= response.status_code < 500, (where, response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"detail", "code"} and body["detail"] and body["code"], (where, body)


# ---------------------------------------------------------------- JSON nested 1,000 levels


@pytest.mark.django_db
def test_deeply_nested_json_is_refused_on_every_url_before_auth(client, catalog):
    checked = 0
    targets = [(m, p) for m, p, _ in _api_operations(client) if m in ("post", "patch", "put", "delete")]
    targets += [("post", p) for _, p, _ in _api_operations(client, "/v1")] + [("post", p) for p in HTML_POSTS]
    for method, path in targets:
        for body in (DEEP, DEEP_OBJECT, DEEP_WITH_NUL, DEEP_UNCLOSED):
            response = getattr(client, method)(path, data=body, content_type="application/json")
            assert response.status_code == 400, (method, path, response.status_code, response.content[:200])
            if path.startswith("/api/v1/"):
                _assert_api_error(response, path)
                assert response.json()["code"] in ("invalid_json", "invalid_text")
            elif path.startswith("/v1/"):
                assert response.json()["error"]["message"]
            checked += 1
    tally("hostile deep JSON", checked)
    assert checked > 100


@pytest.mark.django_db
def test_deep_json_without_a_json_content_type_is_refused_too(client):
    response = client.post("/api/v1/generations", data=DEEP, content_type="text/plain")
    _assert_api_error(response, "text/plain")


def test_ordinary_nesting_passes(client, db):
    from apps.core.middleware import json_too_deep

    graph = {"nodes": [{"id": "a", "params": {"x": [[{"y": [1]}]]}}]}
    assert not json_too_deep(json.dumps(graph).encode())
    assert not json_too_deep(b'{"prompt": "' + b"[" * 5000 + b'"}')  # brackets inside a string are text


# ---------------------------------------------------------------- lone surrogates


@pytest.mark.django_db
def test_lone_surrogates_are_refused_by_every_json_endpoint(world):
    client = client_for()
    headers = {"Authorization": f"Bearer {world.owner_key}"}
    checked = 0
    for method, path, _ in _api_operations(client):
        if method not in ("post", "patch", "put"):
            continue
        for text in ('"\\ud800"', '"x\\udfff y"', '"\\uDBFF"'):
            body = ('{"model": %s, "prompt": %s, "name": %s, "values": [%s], "graph": {"nodes": [{"id": "a", '
                    '"label": %s, "params": {"k": %s}}]}}') % ((text,) * 6)
            response = getattr(client, method)(path, data=body, content_type="application/json", headers=headers)
            assert response.status_code == 400, (path, response.status_code, response.content[:300])
            _assert_api_error(response, path)
            assert response.json()["code"] == "invalid_text"
            checked += 1
    for path in ("/v1/images/generations",):
        response = client.post(path, data='{"prompt": "\\ud800", "model": "offline-sketch"}',
                               content_type="application/json", headers=headers)
        assert response.status_code == 400 and response.json()["error"]["param"] == "prompt", response.content
    tally("hostile lone surrogates", checked)
    assert checked >= 10


@pytest.mark.django_db
def test_a_lone_surrogate_is_refused_by_the_workflow_builder_and_nothing_is_stored(world):
    client = client_for(world.owner)
    workflow_id = world.params["workflow_id"]
    body = json.dumps({"graph": {"nodes": [{"id": "photo", "type": "input_photo", "label": "\ud800",
                                            "params": {}}], "edges": []}})
    response = client.post(reverse("workflows:version_save", args=[workflow_id]), data=body,
                           content_type="application/json")
    assert response.status_code == 400
    assert "surrogate" in response.json()["detail"]
    assert client.get(reverse("workflows:detail", args=[workflow_id])).status_code == 200


def test_paired_surrogates_are_ordinary_text(db, client):
    from apps.core.middleware import _has_unstorable

    assert not _has_unstorable(json.loads('{"a": "\\ud83e\\udd8a"}'))  # 🦊, written as a pair
    assert _has_unstorable(json.loads('{"a": ["\\ud83e"]}'))


# ---------------------------------------------------------------- cursors of the wrong type


def _cursor(created: str, pk: str) -> str:
    return base64.urlsafe_b64encode(f"{created}|{pk}".encode()).decode().rstrip("=")


WRONG_CURSORS = [
    _cursor("2026-01-01T00:00:00+00:00", "not-a-uuid"),
    _cursor("2026-01-01T00:00:00+00:00", "12.5"),
    _cursor("2026-01-01T00:00:00+00:00", ""),
    _cursor("2026-01-01T00:00:00", "00000000-0000-4000-8000-000000000000"),  # no time zone
    _cursor("2026-01-01", "1|2|3"),
]


@pytest.mark.django_db
def test_wrong_typed_cursors_are_refused_by_every_list_endpoint(world):
    client = client_for()
    headers = {"Authorization": f"Bearer {world.owner_key}"}
    lists = [(path, op) for method, path, op in _api_operations(client) if method == "get"
             and any(p.get("name") == "cursor" for p in op.get("parameters", []))]
    for key, value in world.params.items():  # the owner's real ids, so nested lists exist
        lists = [(p.replace("00000000-0000-4000-8000-000000000000", str(value), 1)
                  if key in op.get("operationId", "") or f"{{{key}}}" in json.dumps(op) else p, op)
                 for p, op in lists]
    assert len(lists) >= 7, lists
    for path, _ in lists:
        for cursor in WRONG_CURSORS:
            response = client.get(path, {"cursor": cursor}, headers=headers)
            assert response.status_code in (400, 404), (path, cursor, response.status_code, response.content[:300])
            _assert_api_error(response, path)
    tally("hostile cursors", len(lists) * len(WRONG_CURSORS))


@pytest.mark.django_db
def test_wrong_typed_cursors_are_refused_by_every_older_page(world):
    client = client_for(world.owner)
    pages = ["/images/", "/photos/", "/workflows/", "/credits/"]
    for page in pages:
        for cursor in WRONG_CURSORS:
            response = client.get(page, {"before": cursor})
            assert response.status_code == 400, (page, cursor, response.status_code)
            assert b"page cursor is not valid" in response.content
    tally("hostile cursors", len(pages) * len(WRONG_CURSORS))


def test_a_good_cursor_still_pages(db):
    from django.utils import timezone

    from apps.core.pagination import decode_cursor

    now = timezone.now()
    assert decode_cursor(encode_cursor(now, 5)) == (now, "5")


# ---------------------------------------------------------------- Django's request parsing limits


def _multipart(parts: list[bytes], boundary=b"XyZ") -> bytes:
    return b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts) + b"--" + boundary + b"--\r\n"


LONG_HEADER = b'Content-Disposition: form-data; name="prompt"\r\nX-Pad: ' + b"a" * 2000 + b"\r\n\r\nkite"
BAD_BASE64 = (b'Content-Disposition: form-data; name="image"; filename="a.png"\r\n'
              b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64***=")


def _limit_breakers(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    many_fields = "&".join(f"f{i}=1" for i in range(50))
    return [
        ("too large", "application/json", json.dumps({"prompt": "x" * 5000})),
        ("too many fields", "application/x-www-form-urlencoded", many_fields),
        ("long part header", "multipart/form-data; boundary=XyZ", _multipart([LONG_HEADER])),
        ("bad base64", "multipart/form-data; boundary=XyZ", _multipart([BAD_BASE64])),
        ("no boundary", "multipart/form-data", _multipart([b'Content-Disposition: form-data; name="a"\r\n\r\nb'])),
    ]


@pytest.mark.django_db
def test_request_parsing_limits_are_clear_errors_on_both_apis(world, settings):
    client = client_for()
    headers = {"Authorization": f"Bearer {world.owner_key}"}
    operations = [(m, p) for m, p, _ in _api_operations(client) if m in ("post", "patch", "put")]
    operations += [("post", p) for _, p, _ in _api_operations(client, "/v1")]
    checked = 0
    for name, content_type, body in _limit_breakers(settings):
        for method, path in operations:
            response = getattr(client, method)(path, data=body, content_type=content_type, headers=headers)
            where = (name, method, path)
            assert 400 <= response.status_code < 500, (where, response.status_code, response.content[:300])
            if path.startswith("/api/v1/"):
                _assert_api_error(response, where)
            else:
                assert response.json()["error"]["message"], where
            checked += 1
    tally("hostile parsing limits", checked)
