"""Breaker history: every state change of a circuit breaker, as apps.providers.breaker reports it."""

from apps.providers.models import CircuitBreaker

from ..models import BreakerTransition


def breaker_transition_record(keys, state: str) -> None:
    """Store a breaker's new state. A close is reported on every reset of a breaker that was not
    pristine (a closed one with failures counted, too): it is stored only after an open or half-open."""
    if state == CircuitBreaker.State.CLOSED:
        keys = [key for key in keys
                if BreakerTransition.objects.filter(key=key).order_by("-at", "-pk").values_list("state", flat=True)
                .first() not in (None, CircuitBreaker.State.CLOSED)]
    BreakerTransition.objects.bulk_create([BreakerTransition(key=key, state=state) for key in keys])
