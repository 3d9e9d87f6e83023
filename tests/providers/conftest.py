"""The provider simulator, started once per session as a real process; each test resets its
knobs and points Darkroom's provider settings at it."""

import time

import httpx
import pytest

from apps.generations import services, tasks
from devtools import stack, standins
from devtools.stack import free_port


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
    port = free_port()
    process = stack.simulator_process(port, tmp_path_factory.mktemp("simulator") / "simulator.log")
    yield Simulator(f"http://127.0.0.1:{port}")
    process.stop()


@pytest.fixture
def simulator(simulator_process, settings):
    """A clean simulator, with every provider setting pointing at it (URLs and stand-in keys from
    devtools.standins, as the simulator expects them)."""
    simulator_process.reset()
    for name, value in standins.simulator_settings(simulator_process.url).items():
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
