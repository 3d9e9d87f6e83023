"""`make run` in a clean directory: SQLite, files under var/, the worker and the channel layer
inside the one `manage.py serve` process. No PostgreSQL, no Redis, no test database."""

import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from .conftest import (
    HOST,
    PASSWORD,
    PYTHON,
    ROOT,
    STARTUP_TIMEOUT,
    LiveProcess,
    clean_env,
    events_until,
    free_port,
    http_client,
    http_ok,
    open_socket,
    wait_for,
)

pytestmark = pytest.mark.live

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def csrf_token(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "no csrfmiddlewaretoken on the page"
    return match.group(1)


@dataclass
class Embedded:
    base_url: str
    ws_url: str
    var_dir: Path
    server: LiveProcess


@pytest.fixture
def embedded(tmp_path):
    """The embedded server, started the way `make run` starts it, in an empty var/ directory."""
    var_dir = tmp_path / "var"
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.base", DARKROOM_VAR_DIR=str(var_dir),
        OFFLINE_ENGINE_STEP_DELAY_MS="20", OPENAI_COMPAT_WAIT_RECHECK_SECONDS="60",
    )
    assert not {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} & set(env)
    manage("migrate", "--no-input", "-v", "0", env=env)
    models = len(tomllib.loads(settings.CATALOG_FILE.read_text())["models"])
    assert manage("catalog_load", env=env).strip() == f"Catalogue loaded: {models} new, 0 updated."
    port = free_port()
    server = LiveProcess(
        f"embedded serve :{port}", [PYTHON, "manage.py", "serve", "--host", HOST, "--port", str(port)],
        env, tmp_path / "serve.log",
    ).start()
    try:
        embedded = Embedded(base_url=f"http://{HOST}:{port}", ws_url=f"ws://{HOST}:{port}/ws/live/",
                            var_dir=var_dir, server=server)
        wait_for(lambda: http_ok(f"{embedded.base_url}/healthz"), timeout=STARTUP_TIMEOUT,
                 what=f"{server.name} /healthz", processes=[server])
        yield embedded
    finally:
        server.stop()


def test_embedded_mode_signs_up_generates_and_lists_the_image(embedded):
    base_url, var_dir = embedded.base_url, embedded.var_dir
    assert (var_dir / "darkroom.sqlite3").is_file()
    assert (var_dir / "secret_key").is_file()

    with http_client(base_url) as client:
        page = client.get("/accounts/signup/")
        assert page.status_code == 200
        response = client.post(
            "/accounts/signup/",
            data={"csrfmiddlewaretoken": csrf_token(page.text), "email": "embedded@example.com",
                  "password1": PASSWORD, "password2": PASSWORD},
            headers={"Referer": f"{base_url}/accounts/signup/"},
        )
        assert response.status_code == 302, response.text
        assert response.headers["location"] == "/"
        home = client.get("/")
        assert home.status_code == 200
        assert '<span class="balance-value">100</span>' in home.text

        with open_socket(embedded.ws_url, cookie=client.cookies["sessionid"], origin=base_url) as ws:
            response = client.post(
                "/generations/new/",
                data={"csrfmiddlewaretoken": csrf_token(home.text), "model": "offline-sketch",
                      "prompt": "a paper boat on a pond", "aspect_ratio": "1:1", "tier": "draft",
                      "num_images": "1"},
                headers={"Referer": f"{base_url}/"},
            )
            assert response.status_code == 302, response.text
            match = re.fullmatch(r"/generations/([0-9a-f-]{36})/", response.headers["location"])
            assert match, response.headers["location"]
            generation_id = match.group(1)

            # Published from a worker thread, delivered by the server's event loop.
            events = events_until(ws, generation_id=generation_id, event="generation.succeeded")
            assert events[-1]["data"]["status"] == "succeeded"
            assert events[-1]["data"]["progress"] == 1.0

        images = client.get("/images/")
        assert images.status_code == 200
        assert f'href="/generations/{generation_id}/"' in images.text
        assert images.text.count('class="result"') == 1
        thumbnail = re.search(r'<img class="result" src="(/files/[^"]+)"', images.text)
        assert thumbnail, "no image on /images/"
        served = client.get(thumbnail.group(1))
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/webp"
        assert '<span class="balance-value">99</span>' in images.text

    stored = list((var_dir / "media" / "generations").rglob("*"))
    assert sorted(p.name for p in stored if p.is_file()) == ["0.png", "0.preview.webp", "0.thumb.webp"]
    embedded.server.check_alive()


FAN_OUT_RUN = """
from config.celery import app
app.conf.task_always_eager = True
from apps.accounts.models import User
from apps.credits.services import credits_grant_signup
from apps.workflows import services
from apps.workflows.models import NodeRun, WorkflowRun
from devtools.bench.scenarios.workflow import _graph, _photo
user = User.objects.create_user(email="fan@example.com", password="x" * 12)
credits_grant_signup(user=user)
workflow = services.workflow_create(user=user, name="fan", graph=_graph())
run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(_photo(user).pk)})
run = WorkflowRun.objects.get(pk=run.pk)
join = NodeRun.objects.get(run=run, node_id="join")
print(run.status, run.nodes_succeeded, len(join.outputs["image"]))
"""


def test_embedded_mode_runs_a_fan_out_and_fan_in_workflow(tmp_path):
    """The workflow engine's own SQL runs on SQLite too: 50 branches, then one step joining them."""
    env = clean_env(DJANGO_SETTINGS_MODULE="config.settings.base", DARKROOM_VAR_DIR=str(tmp_path / "var"))
    manage("migrate", "--no-input", "-v", "0", env=env)
    manage("catalog_load", env=env)
    assert manage("shell", "-c", FAN_OUT_RUN, env=env).split()[-3:] == ["succeeded", "52", "50"]


API_KEY = """
from apps.accounts.services import api_key_create, user_create
user = user_create(email="v1@example.com")
print(api_key_create(user=user, name="v1").secret)
"""


def test_embedded_mode_answers_v1_as_soon_as_the_generation_ends(embedded):
    """The OpenAI-compatible request is woken by the end's notice (the in-process channel layer),
    not by its fallback re-read, which this server makes only every 60 s."""
    import time

    env = {**embedded.server.env}
    secret = manage("shell", "-c", API_KEY, env=env).strip().splitlines()[-1]
    with http_client(embedded.base_url) as client:
        started = time.monotonic()
        response = client.post("/v1/images/generations", headers={"Authorization": f"Bearer {secret}"},
                               json={"model": "offline-sketch", "prompt": "a paper boat", "size": "1024x1024",
                                     "response_format": "url"}, timeout=60)
        elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["url"]
    assert elapsed < 30
