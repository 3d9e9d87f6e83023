"""Every HTML form and htmx post of the site, fuzzed with hostile values by Hypothesis: wrong types,
huge strings, NUL bytes, unicode edge cases, negative and enormous numbers, repeated fields, broken
bodies. The answer is a 4xx or the form again with its errors — never a server error (the test
client re-raises any exception a view lets through, so one fails the test with its traceback).
"""

import json

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import client_for, tally

EXAMPLES = 8  # Hypothesis examples per form and body kind (besides every NASTY value in every field)

NASTY = [
    "", " ", "\x00", "a\x00b", "\u202e", "\ufeff", "\u200b", "𝕏" * 10, "🏳️‍🌈" * 200, "é" * 3000, "A" * 100_000,
    "-1", "0", "-9999999999999999999", "99999999999999999999999", "1e309", "NaN", "inf", "-0.0", "0x10",
    "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "%00", "{{ 7|add:7 }}", "\r\n\r\n",
    "null", "[]", "{}", "true", "javascript:alert(1)", "http://169.254.169.254/latest/meta-data/",
    "00000000-0000-0000-0000-000000000000", "not-a-uuid", "16:9\x00", "1:1",
]
text = st.one_of(
    st.sampled_from(NASTY),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=60),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
value = st.one_of(text, st.lists(text, min_size=2, max_size=4))

# path (with {param}s from the `world`), the fields its form posts, who posts it.
FORMS = [
    ("/generations/new/", ["model", "prompt", "negative_prompt", "aspect_ratio", "tier", "num_images", "seed",
                           "image_upload_id", "mask_upload_id", "strength"], "owner"),
    ("/photos/{upload_id}/operations/crop/", ["aspect", "x", "y", "width", "height"], "owner"),
    ("/photos/{upload_id}/operations/resize/", ["width", "height", "edge"], "owner"),
    ("/photos/{upload_id}/operations/upscale/", ["factor"], "owner"),
    ("/photos/{upload_id}/operations/color/", ["brightness", "contrast", "saturation", "temperature"], "owner"),
    ("/photos/{upload_id}/operations/convert/", ["format", "quality"], "owner"),
    ("/photos/{upload_id}/operations/no-such-operation/", ["x"], "owner"),
    ("/workflows/new/", ["name"], "owner"),
    ("/workflows/{workflow_id}/run/", ["input-photo", "force_rerun", "version"], "owner"),
    ("/workflows/starters/product-shot/use/", ["name"], "owner"),
    ("/batches/", ["model", "tier", "aspect_ratio", "prompts", "name"], "owner"),
    ("/account/webhooks/", ["url", "description", "events"], "owner"),
    ("/account/api-keys/", ["name"], "owner"),
    ("/credits/buy/{package_id}/", ["quantity"], "owner"),
    ("/accounts/login/", ["login", "password", "remember"], "anonymous"),
    ("/accounts/signup/", ["email", "password1", "password2"], "anonymous"),
    ("/accounts/password/reset/", ["email"], "anonymous"),
    ("/accounts/password/change/", ["oldpassword", "password1", "password2"], "owner"),
]
# Pages that read their query string.
QUERIES = [
    ("/generate/quote/", ["model", "tier", "num_images", "aspect_ratio", "image_upload_id"]),
    ("/generate/options/", ["model", "tier"]),
    ("/images/", ["before"]), ("/credits/", ["before", "checkout"]), ("/workflows/{workflow_id}/export.json", ["version"]),
]
CONTENT_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "multipart/form-data",
                 "application/json", "text/plain", "application/x-www-form-urlencoded; charset=bogus-8"]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def _fields(names):
    return st.dictionaries(st.sampled_from(names + ["csrfmiddlewaretoken", "x" * 300]), value, max_size=len(names) + 1)


def _undone(call):
    """Run one request and roll back what it wrote, so examples don't pile up data (or credits)."""
    try:
        with transaction.atomic():
            response = call()
            raise _Rollback(response)
    except _Rollback as done:
        return done.args[0]


class _Rollback(Exception):
    pass


def _check(response, what):
    assert response.status_code < 500, f"{what}: {response.status_code}"
    tally("hostile inputs: forms")


def test_forms_answer_hostile_values_with_4xx_or_their_errors(world):
    clients = {"owner": client_for(world.owner), "anonymous": client_for()}
    for template, names, who in FORMS:
        path = template.format(**world.params)
        client = clients[who]

        @FUZZ
        @given(data=_fields(names), htmx=st.booleans())
        def fields(data, htmx):
            headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
            _check(_undone(lambda: client.post(path, data, **headers)), f"POST {path} {data!r:.300}")

        @FUZZ
        @given(body=st.one_of(st.binary(max_size=2000), st.text(max_size=500).map(str.encode)),
               content_type=st.sampled_from(CONTENT_TYPES))
        def raw(body, content_type):
            _check(_undone(lambda: client.generic("POST", path, body, content_type)), f"POST {path} raw {body!r:.200}")

        for nasty in NASTY:  # each known-bad value in every field, then Hypothesis's own
            _check(_undone(lambda: client.post(path, dict.fromkeys(names, nasty))), f"POST {path} {nasty!r:.40}")
        fields()
        raw()


def test_query_strings_answer_hostile_values_without_server_errors(world):
    client = client_for(world.owner)
    for template, names in QUERIES:
        path = template.format(**world.params)

        @FUZZ
        @given(data=_fields(names))
        def query(data):
            _check(client.get(path, data), f"GET {path} {data!r:.300}")

        for nasty in NASTY:
            _check(client.get(path, dict.fromkeys(names, nasty)), f"GET {path} {nasty!r:.40}")
        query()


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(), text),
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(text, children, max_size=5)),
    max_leaves=30,
)
node = st.fixed_dictionaries({"id": text, "type": st.one_of(text, st.sampled_from(["upscale", "input_photo", "composite"])),
                              "params": st.one_of(json_values, st.dictionaries(text, json_values, max_size=3))})
graphs = st.one_of(
    json_values,
    st.fixed_dictionaries({"nodes": st.lists(st.one_of(node, json_values), max_size=6),
                           "edges": st.lists(st.one_of(json_values, st.dictionaries(
                               st.sampled_from(["from", "to", "from_port", "to_port"]), text)), max_size=6)}),
)


def test_the_builders_save_and_import_take_any_json(world):
    """The builder posts a workflow (drawn or imported from a file) as JSON: anything goes in."""
    client = client_for(world.owner)
    path = f"/workflows/{world.params['workflow_id']}/versions/"

    @settings(FUZZ, max_examples=EXAMPLES * 6)
    @given(body=st.one_of(st.fixed_dictionaries({"graph": graphs}, optional={"name": text, "description": text}),
                          json_values))
    def save(body):
        response = _undone(lambda: client.post(path, json.dumps(body), content_type="application/json"))
        _check(response, f"POST {path} {body!r:.300}")
        assert response.status_code in (201, 400, 404, 413, 422), response.status_code

    save()


def test_nul_characters_are_a_clear_400_everywhere(world):
    """PostgreSQL can't hold NUL in text: it's refused up front, in the API's and the page's words."""
    api, page = client_for(), client_for(world.owner)
    key = {"HTTP_AUTHORIZATION": f"Bearer {world.owner_key}"}
    for path, body in (("/api/v1/api-keys", {"name": "a\x00b"}), ("/api/v1/webhooks", {"url": "https://x\x00/"}),
                       ("/api/v1/generations", {"model": "offline-sketch", "prompt": "\x00"})):
        response = api.post(path, json.dumps(body), content_type="application/json", **key)
        assert response.status_code == 400 and response.json()["code"] == "invalid_text", (path, response.content)
        tally("hostile inputs: forms")
    response = page.post("/account/api-keys/", {"name": "a\x00b"})
    assert response.status_code == 400 and "NUL" in response.content.decode()
    response = page.get("/images/", {"before": "\x00"})
    assert response.status_code == 400
    tally("hostile inputs: forms", 2)
