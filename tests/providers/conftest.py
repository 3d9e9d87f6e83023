"""The provider simulator, started once per session as a real process; each test resets its
knobs and points Darkroom's provider settings at it."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings as django_settings

from apps.generations import services, tasks

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Simulator:
    def __init__(self, url: str):
        self.url = url

    def knobs(self, vendor: str, **values) -> dict:
        response = httpx.post(f"{self.url}/_sim/knobs", json={vendor: values}, timeout=5)
        response.raise_for_status()
        return response.json()

    def state(self) -> dict:
        return httpx.get(f"{self.url}/_sim/state", timeout=5).json()

    def stats(self) -> dict:
        return self.state()["stats"]

    def reset(self) -> None:
        httpx.post(f"{self.url}/_sim/reset", timeout=5).raise_for_status()


@pytest.fixture(scope="session")
def simulator_process(tmp_path_factory):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("simulator") / "simulator.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "PROVIDER_SIMULATOR_URL": url}
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "provider_simulator", "--port", str(port)],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/_sim/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"provider simulator did not start:\n{log.read_text()}")
        time.sleep(0.1)
    yield Simulator(url)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def simulator(simulator_process, settings):
    """A clean simulator, with every provider setting pointing at it."""
    simulator_process.reset()
    url = simulator_process.url
    settings.PROVIDER_SIMULATOR_URL = url
    for name, path in django_settings.SIMULATED_PROVIDER_PATHS.items():
        setattr(settings, name, url + path)
    for name, value in django_settings.SIMULATED_CREDENTIALS.items():
        setattr(settings, name, value)
    settings.PROVIDER_FETCH_ALLOW_PRIVATE = True
    settings.PROVIDER_POLL_INTERVAL = 0.05
    return simulator_process


@pytest.fixture
def scheduled_polls(monkeypatch):
    """Stands in for the broker: polls the services schedule are recorded, not run. (Eager Celery
    would run each one inline at once, recursively, ignoring the countdown.)"""
    scheduled = []

    class PollQueue:
        @staticmethod
        def apply_async(*, kwargs, countdown=None):
            scheduled.append(kwargs["generation_id"])

        @staticmethod
        def delay(*, generation_id):
            scheduled.append(generation_id)

    monkeypatch.setattr(tasks, "generation_poll_task", PollQueue)
    return scheduled


def poll_until_done(generation_id, *, attempts: int = 200) -> None:
    """Drive polling the way the worker's poll task would, bounded."""
    for _ in range(attempts):
        if not services.generation_poll(generation_id=generation_id):
            return
        time.sleep(0.05)
    pytest.fail("the generation never finished")


def run_blocking(adapter, request, *, canceled_after: int | None = None):
    """Run a blocking adapter, collecting its progress updates; cancel once `canceled_after` came."""
    updates = []

    def is_canceled() -> bool:
        return canceled_after is not None and len(updates) >= canceled_after

    status = adapter.run(request, on_progress=updates.append, is_canceled=is_canceled)
    return status, updates
