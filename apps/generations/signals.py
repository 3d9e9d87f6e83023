"""Signals other apps may listen to; generations import none of their listeners.

`generation_ended` is sent once a generation reached a terminal state (succeeded, failed,
rejected, canceled), after the transaction that ended it committed. Arguments: `generation_id`
(str) and `status`. Receivers must be idempotent (a stale finisher may announce an end again)
and quick: heavy work belongs in a task the receiver enqueues. A receiver's error is logged and
never reaches the generation's worker.
"""

import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

generation_ended = Signal()


def generation_ended_send(*, sender, generation_id: str, status: str) -> None:
    for receiver, outcome in generation_ended.send_robust(sender=sender, generation_id=generation_id, status=status):
        if isinstance(outcome, Exception):
            logger.error("generation_ended receiver failed", exc_info=outcome,
                         extra={"generation": generation_id, "receiver": getattr(receiver, "__qualname__", "")})
