"""Property-based fuzzing of the OpenAI-compatible endpoints and the SSE stream, over real HTTP to
a live test server: malformed JSON, wrong types, huge strings, unicode edge cases (NUL, lone
surrogates, right-to-left marks), bad sizes and counts, broken multipart, bad Last-Event-ID.

Every answer must be below 500 and in the API's error shape — OpenAI's `{"error": {…}}` on /v1,
`{detail, code}` on /api/v1 — and nothing may hang: each request has a client-side timeout, and
the event stream is shortened by EVENTS_STREAM_SECONDS. Valid requests really run (eager Celery at
commit, the offline engine), so an answer of 200 is a finished image or a finished event stream.
"""

import json

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apps.accounts.services import api_key_create
from apps.credits.models import CreditAccount
from tests.media.images import photo_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalog")]

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
TIMEOUT = httpx.Timeout(60, connect=5)

# Text that has broken servers before: control characters, NUL, lone surrogates (not encodable as
# UTF-8), combining marks, right-to-left overrides, emoji, and very long strings.
EDGE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "\u202e\u0301\u200d", "🦊" * 50,
                     "\r\n\t", "%00", "'; DROP TABLE x; --", "{{7*7}}", "1024x1024\x00", "../../etc/passwd"]),
    st.text(min_size=1, max_size=3).map(lambda s: s * 30_000),  # up to ~100k characters
)
SIZES = st.one_of(st.sampled_from(["1024x1024", "auto", "0x0", "16x16", "8193x8193", "-1x5", "1024X1536",
                                   "1e3x1e3", "99999999999999999999x1", "x", "1024x", "１０２４x１０２４"]), EDGE_TEXT)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | EDGE_TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
FIELD_VALUES = {
    "prompt": st.one_of(EDGE_TEXT, ANY_JSON),
    "model": st.one_of(st.sampled_from(["offline-sketch", "gpt-image-1", "dall-e-3", "offline-edit"]), EDGE_TEXT,
                       ANY_JSON),
    "n": st.one_of(st.integers(-5, 15), st.sampled_from([2**63, -(2**63), 10**30]), ANY_JSON),
    "size": st.one_of(SIZES, ANY_JSON),
    "quality": st.one_of(st.sampled_from(["low", "high", "hd", "standard", "auto"]), EDGE_TEXT),
    "response_format": st.one_of(st.sampled_from(["url", "b64_json"]), EDGE_TEXT, ANY_JSON),
    "stream": st.one_of(st.booleans(), ANY_JSON),
    "partial_images": st.one_of(st.integers(-2, 6), ANY_JSON),
    "user": EDGE_TEXT,
}
BODIES = st.one_of(
    st.fixed_dictionaries({"prompt": st.sampled_from(["a kite", "a lighthouse"]),
                           "model": st.just("offline-sketch")},
                          optional={k: v for k, v in FIELD_VALUES.items() if k not in ("prompt", "model")}),
    st.fixed_dictionaries({"prompt": st.sampled_from(["a kite", "ünïcödé 🦊", "\u202eright to left"]) | EDGE_TEXT,
                           "model": st.just("offline-sketch"), "stream": st.just(True)},
                          optional={"partial_images": st.integers(0, 3) | ANY_JSON, "n": st.integers(1, 4),
                                    "size": SIZES, "quality": FIELD_VALUES["quality"]}),
    st.fixed_dictionaries({}, optional=FIELD_VALUES),
    ANY_JSON,
)
RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"", b"{", b'{"prompt": "a"', b"null", b"[]", b'{"prompt": "a", "n": 1e999}',
                     b'{"prompt": "\\ud800"}', b'{"prompt": "\\u0000"}', b"\xff\xfe{}", b'{"prompt":' + b"[" * 5000]),
)


@pytest.fixture
def http(live_server, user):
    CreditAccount.objects.filter(user=user).update(balance=100_000)  # the fuzzer's valid requests all run
    secret = api_key_create(user=user, name="fuzz").secret
    with httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {secret}"},
                      timeout=TIMEOUT) as client:
        yield client


def assert_openai_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    content_type = response.headers.get("content-type", "")
    event(f"{response.status_code} {content_type.split(';')[0]}")  # --hypothesis-show-statistics
    if response.status_code == 200 and content_type.startswith("text/event-stream"):
        events = [block for block in response.text.split("\n\n") if block.strip()]
        assert events, "an empty event stream"
        last = events[-1]
        # It ends with the last image, or with an error in OpenAI's shape.
        if last.startswith("event: error"):
            data = json.loads(last.split("data: ", 1)[1])
            assert set(data["error"]) == {"message", "type", "param", "code"}, data
        else:
            assert last.split("\n", 1)[0].endswith(".completed"), last[:200]
        return
    body = response.json()
    if response.status_code == 200:
        assert body["data"] and all(item.get("b64_json") or item.get("url") for item in body["data"]), body
        return
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str)
    assert error["param"] is None or isinstance(error["param"], str)


def post_json(http: httpx.Client, path: str, body) -> httpx.Response:
    # json.dumps escapes lone surrogates and NUL as \\uXXXX, as a client in any language may send them.
    return http.post(path, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})


@FUZZ
@given(body=BODIES)
def test_generations_survive_fuzzed_json(http, body):
    assert_openai_answer(post_json(http, "/v1/images/generations", body))


@FUZZ
@given(raw=RAW_BODIES, content_type=st.sampled_from(["application/json", "text/plain", "multipart/form-data",
                                                     "application/x-www-form-urlencoded", ""]))
def test_generations_survive_malformed_bodies(http, raw, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    assert_openai_answer(http.post("/v1/images/generations", content=raw, headers=headers))


IMAGE_FILES = st.one_of(
    st.just(("photo.png", photo_bytes(64, 48), "image/png")),
    st.binary(max_size=300).map(lambda b: ("junk.png", b, "image/png")),
    st.just(("truncated.png", photo_bytes(64, 48)[:60], "image/png")),
    st.just(("empty.png", b"", "image/png")),
    st.tuples(st.one_of(st.text(max_size=60), st.sampled_from(["\x00.png", "../../x.png", "🦊" * 200, ""])),
              st.just(photo_bytes(32, 32))).map(lambda t: (t[0], t[1], "application/octet-stream")),
)
FORM_FIELDS = {
    "prompt": EDGE_TEXT, "model": st.one_of(st.sampled_from(["offline-edit", "offline-sketch"]), EDGE_TEXT),
    "n": st.one_of(st.integers(-3, 12).map(str), EDGE_TEXT), "size": SIZES,
    "response_format": st.one_of(st.sampled_from(["url", "b64_json"]), EDGE_TEXT),
    "stream": st.sampled_from(["true", "false", "1", "0", "yes", "", "TRUE"]),
    "partial_images": st.one_of(st.integers(-1, 5).map(str), EDGE_TEXT), "quality": EDGE_TEXT,
}


def form_safe(value: str) -> str:
    # httpx encodes form fields as UTF-8: a lone surrogate can't be sent as multipart text at all.
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


@FUZZ
@given(
    fields=st.fixed_dictionaries({}, optional=FORM_FIELDS),
    images=st.lists(IMAGE_FILES, max_size=3),
    image_field=st.sampled_from(["image", "image[]"]),
    mask=st.none() | IMAGE_FILES,
)
def test_edits_survive_fuzzed_multipart(http, fields, images, image_field, mask):
    files = [(image_field, (form_safe(name), content, kind)) for name, content, kind in images]
    if mask is not None:
        files.append(("mask", (form_safe(mask[0]), mask[1], mask[2])))
    data = {key: form_safe(value) for key, value in fields.items()}
    if not files:
        # httpx only writes multipart when there is a file: send the fields as a urlencoded form.
        response = http.post("/v1/images/edits", data=data)
    else:
        response = http.post("/v1/images/edits", data=data, files=files)
    assert_openai_answer(response)


@FUZZ
@given(raw=st.one_of(RAW_BODIES, st.sampled_from([
    b"--x\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n\x89PNG",  # never closed
    b"--x--\r\n",
    b"--x\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--x--\r\n",
    b"--x\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\n" + b"p" * 200_000 + b"\r\n--x--\r\n",
])), boundary=st.sampled_from(["x", "", "\u00e9", "a" * 300]))
def test_edits_survive_broken_multipart(http, raw, boundary):
    content_type = f"multipart/form-data; boundary={boundary}".encode("utf-8")
    assert_openai_answer(http.post("/v1/images/edits", content=raw, headers={"Content-Type": content_type}))


LAST_EVENT_IDS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["", "1.5", "1e3", "0x10", "-0", "NaN", "\u00b3", "9" * 5000, "1,2", "7 8", "9" * 19]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=50),
).map(lambda value: value.strip(" \t"))  # a header value can't start or end with blanks on the wire


@FUZZ
@given(header=LAST_EVENT_IDS, query=st.none() | LAST_EVENT_IDS)
def test_the_event_stream_survives_bad_last_event_ids(http, settings_stream, header, query):
    params = {"last_event_id": query} if query is not None else {}
    # Header values go as latin-1 bytes, as a browser's EventSource or curl would send them.
    response = http.get("/api/v1/events", params=params, headers={"Last-Event-ID": header.encode("latin-1")})
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code == 200:
        assert response.headers["content-type"] == "text/event-stream"
        assert response.text.startswith("retry: "), response.text[:200]
    else:
        body = response.json()
        assert set(body) == {"detail", "code"} and isinstance(body["detail"], str), body


@pytest.fixture
def settings_stream(settings):
    settings.EVENTS_STREAM_SECONDS = 0.2  # a stream closes by itself almost at once
    settings.EVENTS_POLL_SECONDS = 0.05
