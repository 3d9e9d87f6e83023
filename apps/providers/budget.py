"""How long, and whether at all, a job is still wanted while a provider call runs.

The router opens a budget for the job it runs (its deadline and a "still wanted?" check); every
blocking provider call made inside it — HTTP timeouts, Retry-After sleeps, `Prefer: wait`, a retry —
is bounded by the time left and starts only while the job is still wanted. A job failed and refunded
at its deadline (or canceled) therefore stops costing money: no call is made after it ended.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import httpx

from .exceptions import ProviderError


class JobNoLongerWanted(ProviderError):
    """The job ended (canceled, failed at its deadline, …) or its deadline passed: stop calling."""

    code = "job_not_wanted"


@dataclass(frozen=True)
class Budget:
    deadline: float | None  # time.time() seconds
    wanted: Callable[[], bool]
    generation_id: str | None = None


_current: ContextVar[Budget | None] = ContextVar("provider_budget", default=None)


@contextmanager
def bounded(*, deadline: float | None, wanted: Callable[[], bool], generation_id: str | None = None
            ) -> Iterator[Budget]:
    budget = Budget(deadline=deadline, wanted=wanted, generation_id=generation_id)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def current() -> Budget | None:
    return _current.get()


def remaining() -> float | None:
    """Seconds left before the job's deadline (never below 0), None when unbounded."""
    budget = _current.get()
    if budget is None or budget.deadline is None:
        return None
    return max(0.0, budget.deadline - time.time())


def check() -> None:
    """Raise JobNoLongerWanted unless the job is still wanted and within its deadline."""
    budget = _current.get()
    if budget is None:
        return
    if (left := remaining()) is not None and left <= 0:
        raise JobNoLongerWanted(extra={"reason": "deadline"})
    if not budget.wanted():
        raise JobNoLongerWanted(extra={"reason": "ended"})


def seconds(value: float) -> float:
    """`value`, cut to the time left."""
    left = remaining()
    return value if left is None else min(value, left)


def timeout(value: httpx.Timeout) -> httpx.Timeout:
    """An httpx timeout whose every phase ends by the deadline (at least a moment, so the call fails
    fast rather than not at all)."""
    left = remaining()
    if left is None:
        return value

    def cut(phase: float | None) -> float:
        return max(0.05, min(phase if phase is not None else left, left))

    return httpx.Timeout(connect=cut(value.connect), read=cut(value.read), write=cut(value.write),
                         pool=cut(value.pool))


@contextmanager
def lifted() -> Iterator[None]:
    """No budget: for calls that stop costs rather than add them (a cancel)."""
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)
