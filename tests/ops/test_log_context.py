"""JSON log lines carry the request id, the user id and the generation id."""

import json
import logging

import pytest
from django.test import Client

from apps.core.logging import JsonFormatter, log_context, log_context_bind, log_context_reset
from apps.ops import tracing


def line(message="hello") -> dict:
    record = logging.LogRecord("darkroom.test", logging.INFO, __file__, 1, message, (), None)
    return json.loads(JsonFormatter().format(record))


def test_a_log_line_carries_the_bound_context_until_it_is_reset():
    token = log_context_bind(request_id="req-12345678", user_id=7, generation_id=None)
    try:
        assert {k: line()[k] for k in ("request_id", "user_id", "message")} == {
            "request_id": "req-12345678", "user_id": 7, "message": "hello"}
        assert "generation_id" not in line()
    finally:
        log_context_reset(token)
    assert "request_id" not in line()


@pytest.mark.django_db
def test_a_request_gets_an_id_and_a_signed_in_users_id_on_its_log_lines(user, monkeypatch):
    seen = []
    monkeypatch.setattr("apps.ops.views.health.readiness", lambda: seen.append(dict(log_context())) or (True, {}))
    client = Client()
    client.force_login(user)
    response = client.get("/readyz", HTTP_X_REQUEST_ID="abc-12345678")
    assert response["X-Request-ID"] == "abc-12345678"
    assert seen == [{"request_id": "abc-12345678", "user_id": user.pk}]
    response = Client().get("/readyz", HTTP_X_REQUEST_ID="bad id\n")  # not a sane token: a new one
    assert len(response["X-Request-ID"]) == 32 and response["X-Request-ID"] != "bad id\n"
    assert seen[1] == {"request_id": response["X-Request-ID"]}
    assert log_context() == {}


def test_a_task_for_a_generation_logs_its_id_while_it_runs():
    tracing._on_task_start(task_id="t1", kwargs={"generation_id": "0b5e…"})
    assert line()["generation_id"] == "0b5e…"
    tracing._on_task_end(task_id="t1")
    assert "generation_id" not in line()
    tracing._on_task_start(task_id="t2", kwargs={"delivery_id": 4})  # not a generation's task
    assert log_context() == {}
    tracing._on_task_end(task_id="t2")
