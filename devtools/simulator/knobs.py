"""The simulator's fault knobs, per vendor, set over HTTP by tests and demos (POST /_sim/knobs)."""

import random
from dataclasses import asdict, dataclass, field, fields


@dataclass
class Knobs:
    latency_ms: int = 0  # added to every API answer
    error_rate: float = 0.0  # share of API calls answered with `error_status`
    error_status: int = 500
    rate_limit_rate: float = 0.0  # share of API calls answered 429
    retry_after: float = 1.0  # seconds, sent with 429s
    timeout_rate: float = 0.0  # share of API calls that hang for `hang_seconds`
    hang_seconds: float = 120.0
    job_seconds: float = 0.6  # how long an async job or a stream takes
    fail_job_rate: float = 0.0  # share of accepted jobs that end in a (non-safety) failure
    blocked_words: list[str] = field(default_factory=lambda: ["forbidden"])  # prompts the safety filter blocks
    output_variant: str = "default"  # vendor-specific output shape (see each vendor module)
    # Base URL of another host serving the output files (a CDN, e.g. a test's recording proxy that
    # forwards to this simulator); empty: the simulator serves them itself.
    files_url: str = ""
    webhook_drop_rate: float = 0.0  # share of webhooks never sent
    webhook_copies: int = 1  # each webhook sent this many times (duplicates)
    webhook_delay: float = 0.0  # seconds before each webhook is sent (a job reporting late)
    # The next N creates make (and bill) their job, then the answer is broken off as by a dropped
    # connection: the client can't tell whether anything was made (see common.answer_lost).
    lost_answers: int = 0
    # A successful job answers this many fewer outputs than asked for (at least one), as a model
    # whose safety filter drops some images or a run that makes fewer does.
    missing_outputs: int = 0
    # The create answer is held until the job's webhooks were delivered (a provider calling back
    # before its create answer reaches us); the job runs for `job_seconds` as usual.
    webhook_before_answer: bool = False
    # Each output file download is held this long before its bytes are sent (a large, slow file).
    file_delay_ms: int = 0


_knobs: dict[str, Knobs] = {}
_stats: dict[str, int] = {}
_log: list[str] = []


def knobs(vendor: str) -> Knobs:
    return _knobs.setdefault(vendor, Knobs())


def set_knobs(vendor: str, values: dict) -> Knobs:
    current = knobs(vendor)
    names = {f.name for f in fields(Knobs)}
    for name, value in values.items():
        if name not in names:
            raise ValueError(f"unknown knob {name!r}")
        setattr(current, name, value)
    return current


def reset() -> None:
    _knobs.clear()
    _stats.clear()
    _log.clear()


def count(name: str) -> None:
    _stats[name] = _stats.get(name, 0) + 1


def outputs_count(vendor: str, asked: int) -> int:
    """How many outputs a successful job answers: `asked`, less the `missing_outputs` knob."""
    return max(1, asked - knobs(vendor).missing_outputs)


def log(entry: str) -> None:
    """Note an event in order (`/_sim/state`'s `log`), so tests can tell what happened first."""
    _log.append(entry)


def snapshot() -> dict:
    return {"knobs": {vendor: asdict(k) for vendor, k in _knobs.items()}, "stats": dict(_stats), "log": list(_log)}


def roll(rate: float) -> bool:
    return rate > 0 and random.random() < rate
