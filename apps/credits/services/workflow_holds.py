"""A workflow run's credits: hold a run's quote, charge each node's share, return the rest.

The same three kinds as generations (reserve −, capture 0, release +), with no generation on the
row; the key names the run (and node): `workflow-run:<run>:hold:<n>`, `…:release:<n>`,
`workflow-run:<run>:node:<node run>:capture` and `…:handoff:<attempt>` (a generate node hands
its share back so the generation can hold its own quote). Each is written with the account row
locked, like every other move, and a repeated key changes nothing.
"""

from django.db import transaction
from django.utils import timezone

from ..models import LedgerEntry
from .ledger import account_lock, entry_append
from .spend import spend_add


def workflow_credits_hold(*, user, amount: int, key: str, memo: str) -> LedgerEntry | None:
    """Reserve `amount` (counts toward the day's spend and the global budget, like a generation)."""
    if amount <= 0:
        return None
    with transaction.atomic():
        account_lock(user)
        entry, created = entry_append(user=user, kind=LedgerEntry.Kind.RESERVE, amount=-amount, idempotency_key=key,
                                 memo=memo)
        if created:
            spend_add(day=timezone.localdate(entry.created_at), user_id=user.pk, amount=amount)
        return entry


def workflow_credits_charge(*, user, amount: int, key: str, memo: str) -> LedgerEntry | None:
    """Turn `amount` of a hold into a charge. Moves nothing: the hold already took it."""
    if amount <= 0:
        return None
    with transaction.atomic():
        account_lock(user)
        entry, _ = entry_append(user=user, kind=LedgerEntry.Kind.CAPTURE, amount=0, idempotency_key=key, memo=memo)
        return entry


def workflow_credits_return(*, user, amount: int, key: str, hold_key: str, memo: str) -> LedgerEntry | None:
    """Give back `amount` of the hold written under `hold_key` (its day's spend goes down too)."""
    if amount <= 0:
        return None
    with transaction.atomic():
        account_lock(user)
        entry, created = entry_append(user=user, kind=LedgerEntry.Kind.RELEASE, amount=amount, idempotency_key=key,
                                 memo=memo)
        if created:
            held_at = LedgerEntry.objects.filter(idempotency_key=hold_key).values_list("created_at", flat=True).first()
            spend_add(day=timezone.localdate(held_at or entry.created_at), user_id=user.pk, amount=-amount)
        return entry
