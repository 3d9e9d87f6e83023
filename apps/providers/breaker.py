"""Circuit breakers in the database, so every worker process sees the same state.

closed → (threshold consecutive failures) → open → (cooldown) → half-open: one probe call is let
through; its success closes the breaker, its failure opens it again. Transitions are conditional
updates, so two workers can't both take the probe.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from .models import CircuitBreaker

State = CircuitBreaker.State
logger = logging.getLogger(__name__)
# Called with (keys, new state) after a breaker changed state (the ops app keeps its history). A
# close is reported whenever a success reset a breaker that was not pristine; listeners tell
# whether it was open. Listeners must be cheap and must not raise.
transition_listeners: list = []


def _changed(keys, state: str) -> None:
    for listener in transition_listeners:
        try:
            listener(tuple(keys), state)
        except Exception:  # the history is for staff: it never breaks a job
            logger.exception("breaker transition listener failed")


def _row(key: str) -> CircuitBreaker:
    return CircuitBreaker.objects.get_or_create(key=key)[0]


def breaker_allows(key: str) -> bool:
    breaker = _row(key)
    now = timezone.now()
    if breaker.state == State.CLOSED:
        return True
    if breaker.state == State.OPEN:
        if now - breaker.opened_at < timedelta(seconds=settings.BREAKER_COOLDOWN_SECONDS):
            return False
        # Cooldown over: whoever flips it to half-open first is the probe.
        probing = bool(
            CircuitBreaker.objects.filter(pk=breaker.pk, state=State.OPEN, opened_at=breaker.opened_at).update(
                state=State.HALF_OPEN, probe_started_at=now
            )
        )
        if probing:
            _changed((key,), State.HALF_OPEN)
        return probing
    # Half-open: a probe is out. If it never reported back, let another one try.
    stale = now - timedelta(seconds=settings.BREAKER_PROBE_TIMEOUT_SECONDS)
    return bool(
        CircuitBreaker.objects.filter(pk=breaker.pk, state=State.HALF_OPEN, probe_started_at__lt=stale).update(
            probe_started_at=now
        )
    )


def breakers_allow(keys) -> bool:
    """breaker_allows for every key, in order. The usual case (every breaker closed) is one read."""
    states = dict(CircuitBreaker.objects.filter(key__in=keys).values_list("key", "state"))
    if len(states) == len(keys) and all(state == State.CLOSED for state in states.values()):
        return True
    return all(breaker_allows(key) for key in keys)


def breakers_record_success(keys) -> None:
    reset = CircuitBreaker.objects.filter(key__in=keys).exclude(
        state=State.CLOSED, consecutive_failures=0, refused_at=None
    ).update(
        state=State.CLOSED, consecutive_failures=0, opened_at=None, probe_started_at=None, refused_at=None,
        refused_status=None,
    )
    if reset:
        _changed(keys, State.CLOSED)


def breakers_record_refusal(keys, *, status: int | None) -> None:
    """The provider refused our credentials: shown to staff as such, and neither a breaker strike
    nor a success (the breaker's state is about outages)."""
    for key in keys:
        _row(key)
    CircuitBreaker.objects.filter(key__in=keys).update(refused_at=timezone.now(), refused_status=status)
    logger.error(
        "provider credentials refused (HTTP %s) for %s: check its API key and account", status, keys[-1],
        extra={"breaker_keys": list(keys), "status": status},
    )


def breaker_record_success(key: str) -> None:
    breakers_record_success((key,))


def breaker_record_failure(key: str) -> None:
    _row(key)
    now = timezone.now()
    # A failed probe re-opens at once.
    reopened = CircuitBreaker.objects.filter(key=key, state=State.HALF_OPEN).update(
        state=State.OPEN, opened_at=now, probe_started_at=None, consecutive_failures=F("consecutive_failures") + 1
    )
    CircuitBreaker.objects.filter(key=key, state=State.CLOSED).update(consecutive_failures=F("consecutive_failures") + 1)
    opened = CircuitBreaker.objects.filter(
        key=key, state=State.CLOSED, consecutive_failures__gte=settings.BREAKER_FAILURE_THRESHOLD
    ).update(state=State.OPEN, opened_at=now)
    if reopened or opened:
        _changed((key,), State.OPEN)


def breaker_state(key: str) -> str:
    return CircuitBreaker.objects.filter(key=key).values_list("state", flat=True).first() or State.CLOSED
