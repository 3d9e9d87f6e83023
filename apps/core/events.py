"""Typed domain events: the one way an app tells the others that something happened.

A service emits an event inside its transaction; subscribers registered in their app's `ready()`
react. Two kinds of subscriber:

- `after_commit` (the default): called once the emitting transaction committed, each on its own,
  so one subscriber's error is logged and never reaches the service or the others. Live updates,
  batches and workflows react this way.
- `in_transaction`: called at once, inside the emitting transaction and a savepoint of its own, for
  writes that must commit with the change or not at all (the outgoing-webhook outbox). A failure
  rolls back only that subscriber's savepoint and is logged.

Subscribers must be idempotent: a stale worker may emit the same end twice. Adding one:

    from apps.core import events

    def thank_user(event: events.GenerationFinished) -> None: ...

    events.subscribe(events.GenerationFinished, thank_user)   # in your AppConfig.ready()
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from django.db import transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    name: ClassVar[str] = ""
    user_id: int


@dataclass(frozen=True, kw_only=True)
class GenerationProgressed(DomainEvent):
    """A generation changed while still active (state, progress, a note, a live preview)."""

    name: ClassVar[str] = "generation.progress"
    generation_id: str
    status: str
    progress: float = 0.0
    preview: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True)
class GenerationFinished(DomainEvent):
    """A generation reached a terminal state: succeeded, failed, rejected or canceled."""

    name: ClassVar[str] = "generation.finished"
    generation_id: str
    status: str


@dataclass(frozen=True, kw_only=True)
class GenerationReviewed(DomainEvent):
    """The judges finished on a succeeded generation's images (apps/review): `verdict` is the worst."""

    name: ClassVar[str] = "generation.reviewed"
    generation_id: str
    verdict: str


@dataclass(frozen=True, kw_only=True)
class RunNodesChanged(DomainEvent):
    """Some of a workflow run's nodes changed state (and maybe the run's tallies or the balance).

    `run` and `nodes` are copies of the rows as of this change: a subscriber running after commit
    sees each step as it was, not only the latest state. `header`: the run's tallies changed;
    `run_changed`: the run itself changed state while staying active (started, retried, resumed)."""

    name: ClassVar[str] = "run.nodes_changed"
    run_id: str
    node_ids: tuple[str, ...] = ()
    run_changed: bool = False
    header: bool = False
    balance: bool = False
    run: object = field(default=None, repr=False, compare=False)
    nodes: tuple = field(default=(), repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class RunFinished(DomainEvent):
    """A workflow run ended: succeeded, failed or canceled; `nodes` are the ones whose change ended
    it, as of that change (copies, like RunNodesChanged's)."""

    name: ClassVar[str] = "run.finished"
    run_id: str
    status: str
    node_ids: tuple[str, ...] = ()
    balance: bool = False
    run: object = field(default=None, repr=False, compare=False)
    nodes: tuple = field(default=(), repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class BatchProgressed(DomainEvent):
    """One of a batch's generations ended and the batch goes on."""

    name: ClassVar[str] = "batch.progress"
    batch_id: str


@dataclass(frozen=True, kw_only=True)
class BatchFinished(DomainEvent):
    """Every generation of a batch has ended (emitted once, in the transaction that marks it)."""

    name: ClassVar[str] = "batch.finished"
    batch_id: str
    status: str


Subscriber = Callable[[DomainEvent], None]


@dataclass(frozen=True)
class _Subscription:
    handler: Subscriber
    in_transaction: bool
    when: Callable[[DomainEvent], bool] | None = None


_subscriptions: dict[type[DomainEvent], list[_Subscription]] = {}


def subscribe(event_type: type[DomainEvent], handler: Subscriber, *, in_transaction: bool = False,
              when: Callable[[DomainEvent], bool] | None = None) -> None:
    """Register `handler` for `event_type` (and its subclasses). Registering twice is a no-op.
    `when`, a cheap test of the event, skips the handler (and its savepoint or callback) when false."""
    subscriptions = _subscriptions.setdefault(event_type, [])
    if all(s.handler is not handler for s in subscriptions):
        subscriptions.append(_Subscription(handler, in_transaction, when))


def unsubscribe(event_type: type[DomainEvent], handler: Subscriber) -> None:
    _subscriptions[event_type] = [s for s in _subscriptions.get(event_type, []) if s.handler is not handler]


def subscribers(event_type: type[DomainEvent]) -> list[_Subscription]:
    return [s for cls in event_type.__mro__ for s in _subscriptions.get(cls, [])]


def emit(event: DomainEvent) -> None:
    """Hand `event` to its subscribers: in-transaction ones now, the rest after commit."""
    for subscription in subscribers(type(event)):
        if subscription.when is not None and not subscription.when(event):
            continue
        if subscription.in_transaction:
            _call_in_savepoint(subscription.handler, event)
        else:
            transaction.on_commit(lambda handler=subscription.handler: _call(handler, event), robust=True)


def _call(handler: Subscriber, event: DomainEvent) -> None:
    try:
        handler(event)
    except Exception:
        logger.exception("event subscriber failed", extra={"event": event.name, "subscriber": _name(handler)})


def _call_in_savepoint(handler: Subscriber, event: DomainEvent) -> None:
    try:
        if not transaction.get_connection().in_atomic_block:
            handler(event)  # emitted outside a transaction: nothing to roll back to
            return
        with transaction.atomic():
            handler(event)
    except Exception:
        logger.exception("event subscriber failed", extra={"event": event.name, "subscriber": _name(handler)})


def _name(handler) -> str:
    return f"{getattr(handler, '__module__', '')}.{getattr(handler, '__qualname__', repr(handler))}"
