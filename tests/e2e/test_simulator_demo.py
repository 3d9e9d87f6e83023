"""The documented demo, as a person runs it: `make simulator` in one terminal (python -m
devtools.simulator), `make run PROVIDER_SIMULATOR_URL=http://127.0.0.1:8800` in another (the
embedded server started through devtools.env, which expands that one variable into the provider
variables the settings read). A FLUX generation goes to the Replicate route first and succeeds
there: no 401 from a key mismatch, no job left "taking longer than usual"."""

import subprocess

import httpx
import pytest

from devtools import stack
from devtools.stack import HOST, PYTHON, LiveProcess, clean_env, free_port, http_ok, wait_for

from .conftest import http_client

pytestmark = pytest.mark.live

FLUX_ROUTE = "replicate:POST /replicate/v1/models/black-forest-labs/flux-schnell/predictions"
MAKE_USER = (
    "from apps.accounts.services import api_key_create, user_create; "
    "user = user_create(email='demo@example.com'); print(api_key_create(user=user, name='demo').secret)"
)


def test_a_flux_generation_succeeds_on_the_replicate_route_of_the_simulator(tmp_path):
    sim_port, port = free_port(), free_port()
    simulator = stack.simulator_process(sim_port, tmp_path / "simulator.log")
    env = clean_env(DARKROOM_VAR_DIR=str(tmp_path / "var"), SITE_URL=f"http://{HOST}:{port}",
                    PROVIDER_SIMULATOR_URL=f"http://{HOST}:{sim_port}", OFFLINE_ENGINE_STEP_DELAY_MS="20")
    demo = [PYTHON, "-m", "devtools.env", PYTHON, "manage.py"]
    server = None
    try:
        for args in (("migrate", "--no-input", "-v", "0"), ("catalog_load",), ("shell", "-c", MAKE_USER)):
            done = subprocess.run([*demo, *args], cwd=stack.ROOT, env=env, capture_output=True, text=True,
                                  timeout=300)
            assert done.returncode == 0, done.stdout + done.stderr
        secret = done.stdout.strip().splitlines()[-1]
        server = LiveProcess(f"embedded serve :{port}", [*demo, "serve", "--host", HOST, "--port", str(port)],
                             env, tmp_path / "serve.log").start()
        wait_for(lambda: http_ok(f"http://{HOST}:{port}/healthz"), timeout=stack.STARTUP_TIMEOUT,
                 what="the embedded server", processes=[server, simulator])
        httpx.post(f"http://{HOST}:{sim_port}/_sim/knobs", json={"replicate": {"job_seconds": 0.3}},
                   trust_env=False).raise_for_status()

        api = http_client(f"http://{HOST}:{port}/api/v1", headers={"Authorization": f"Bearer {secret}"})
        created = api.post("/generations", json={"model": "flux-schnell", "prompt": "a lighthouse at dusk",
                                                 "num_images": 1})
        assert created.status_code == 201, created.text
        generation_id = created.json()["id"]

        def finished():
            body = api.get(f"/generations/{generation_id}").json()
            return body if body["status"] not in ("queued", "dispatched", "running", "finishing") else None

        body = wait_for(finished, timeout=60, what="the FLUX generation to end", processes=[server, simulator],
                        interval=0.3)
        assert body["status"] == "succeeded", (body, server.tail())
        stats = httpx.get(f"http://{HOST}:{sim_port}/_sim/state", trust_env=False).json()["stats"]
        assert stats.get(FLUX_ROUTE) == 1, stats  # served by Replicate, the first route: no fallback
        provider = subprocess.run(
            [*demo, "shell", "-c", "from apps.generations.models import Generation; "
             f"print(Generation.objects.get(pk='{generation_id}').provider)"],
            cwd=stack.ROOT, env=env, capture_output=True, text=True, timeout=120,
        )
        assert provider.stdout.strip().splitlines()[-1] == "replicate", provider.stdout + provider.stderr
        assert " 401 " not in server.log() and "Unauthenticated" not in server.log()
    finally:
        if server is not None:
            server.stop()
        simulator.stop()
