"""Schemathesis fuzzes the whole /api/v1 from its OpenAPI schema, in process (WSGI), authenticated
with an API key: no 5xx, every response as documented, nothing of another user's in any answer.

Bounded: a few examples per operation, so the run takes well under a minute. The test's
transaction wraps every example, so on-commit work (running generations, sending webhooks)
never happens: this checks the API's answers, not the work behind them.
"""

import re

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.accounts.services import api_key_create
from apps.batches import services as batch_services
from apps.hooks import services as hook_services
from apps.media import services as media_services
from config.wsgi import application
from tests.accounts.factories import UserFactory
from tests.generations.factories import GenerationFactory
from tests.media.images import photo_bytes

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
# The event stream is a minute-long response by design (tested in tests/realtime/test_events.py).
schema = schema.exclude(path="/api/v1/events")

CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
    response_headers_conformance,
]  # not negative_data_rejection: like most web APIs, unknown query parameters are ignored, not refused


@pytest.fixture
def fuzz_world(db, catalog, settings):
    """Two users: the fuzzer's, and someone else with one of everything, whose ids and secrets must
    never appear in an answer to the fuzzer."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True  # no DNS look-ups of generated host names
    settings.EVENTS_STREAM_SECONDS = 0.1
    # Each example makes a fresh key (below) and the fuzzer creates keys and endpoints of its own.
    settings.API_KEYS_MAX_PER_USER = settings.WEBHOOK_ENDPOINTS_MAX_PER_USER = 10_000
    me, them = UserFactory(), UserFactory()
    GenerationFactory(owner=me)
    generation = GenerationFactory(owner=them)
    upload = media_services.upload_create(user=them, content=photo_bytes(), filename="theirs.png")
    endpoint = hook_services.webhook_endpoint_create(user=them, url="http://127.0.0.1:9/x", events=["batch.finished"])
    batch = batch_services.batch_create(user=them, items=[{"model": "offline-sketch", "prompt": "theirs"}],
                                        source="prompts")
    their_key = api_key_create(user=them, name="their key")
    secrets = [str(generation.id), str(upload.id), str(endpoint.id), endpoint.secret, str(batch.id), them.email,
               their_key.secret, their_key.api_key.prefix, generation.prompt]
    # Called straight through WSGI (not Django's test client), each request would close the test's
    # connection at its end; keep it open as Django's test client does.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield me, secrets
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=10, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_survives_fuzzing(case, fuzz_world):
    me, theirs = fuzz_world
    secret = api_key_create(user=me, name="fuzz").secret  # a fresh key: a fuzzed revoke can't lock us out
    response = case.call_and_validate(headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS)
    text = response.text
    leaked = [marker for marker in theirs if marker in text]
    assert not leaked, f"{case.method} {case.formatted_path} answered with another user's data: {leaked}"


ID_PARAMETER = re.compile(r"\{[a-z_]*id\}")
# Bodies that pass validation, so the answer is about the object, not the body.
VALID_BODIES = {"/api/v1/uploads/{upload_id}/operations": '{"operation": "crop", "params": {"aspect": "1:1"}}'}


def test_every_path_with_an_id_answers_404_for_another_users_object(client, catalog, user, other_user):
    """Each operation that names an object by id, given the other user's object: not found."""
    theirs = {
        "generation_id": GenerationFactory(owner=other_user).id,
        "upload_id": media_services.upload_create(user=other_user, content=photo_bytes()).id,
        "endpoint_id": hook_services.webhook_endpoint_create(
            user=other_user, url="https://93.184.215.14/x", events=["batch.finished"]).id,
        "batch_id": batch_services.batch_create(
            user=other_user, items=[{"model": "offline-sketch", "prompt": "x"}], source="prompts").id,
        "api_key_id": api_key_create(user=other_user, name="theirs").api_key.pk,
    }
    headers = {"Authorization": f"Bearer {api_key_create(user=user, name='me').secret}"}
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    checked = []
    for template, operations in paths.items():
        names = ID_PARAMETER.findall(template)
        if not names or any(name.strip("{}") not in theirs for name in names):
            continue
        path = template
        for name in names:
            path = path.replace(name, str(theirs[name.strip("{}")]))
        for method in operations:
            body = VALID_BODIES.get(template, "{}")
            kwargs = {"content_type": "application/json", "data": body} if method in ("post", "patch") else {}
            response = getattr(client, method)(path, headers=headers, **kwargs)
            assert response.status_code == 404, (method, template, response.status_code, response.content[:200])
            checked.append(f"{method.upper()} {template}")
    assert len(checked) >= 12, checked
