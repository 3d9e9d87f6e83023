"""A generation's credits: hold its quote at submit, capture it on success, release it otherwise."""

from django.db import connection, transaction
from django.utils import timezone

from ..models import CreditAccount, DailySpend, LedgerEntry
from .ledger import account_lock, entry_append, entry_post
from .spend import everyone_spend_add, spend_add


def credits_reserve(*, generation, amount: int, account: CreditAccount | None = None,
                    new_generation: bool = False) -> LedgerEntry:
    """Hold the quote. Counts toward the day's spend; refused if it would pass the global budget.

    `account`: the owner's account as credits_limits_check locked it in this transaction (None:
    locked here). `new_generation`: the generation was created in this transaction, so it holds
    nothing yet."""
    # A new generation's hold fails with it: no savepoint of its own needed.
    with transaction.atomic(savepoint=not new_generation):
        if new_generation and amount > 0 and connection.vendor == "postgresql":
            entry = _reserve_new_pg(generation=generation, amount=amount)
            if entry is not None:
                if account is not None:
                    account.balance -= amount
                return entry
            # No account row yet, or too few credits: nothing was written; the path below
            # creates the account or refuses with the balance.
        if account is None:
            account = account_lock(generation.owner)
        entry, created = entry_append(
            user=generation.owner, kind=LedgerEntry.Kind.RESERVE, amount=-amount,
            idempotency_key=f"generation:{generation.pk}:reserve", generation=generation,
            memo="Held for a generation", account=account, new_key=new_generation,
        )
        if created and amount:
            spend_add(day=timezone.localdate(entry.created_at), user_id=generation.owner_id, amount=amount)
        return entry


# A new generation's hold in one statement: the account's update (which locks its row until commit,
# and moves nothing when the balance is short), the ledger entry and the user's spend for the day,
# each written only if the balance covered the amount. Same rows as entry_append and spend_add write.
_RESERVE_NEW_SQL = f"""
WITH account AS (
    UPDATE {CreditAccount._meta.db_table} SET balance = balance - %(amount)s
    WHERE user_id = %(user_id)s AND balance >= %(amount)s
    RETURNING user_id
), entry AS (
    INSERT INTO {LedgerEntry._meta.db_table}
        (user_id, kind, amount, idempotency_key, generation_id, memo, created_at)
    SELECT user_id, %(kind)s, -%(amount)s, %(key)s, %(generation_id)s, %(memo)s, %(created_at)s FROM account
    RETURNING id
), spend AS (
    INSERT INTO {DailySpend._meta.db_table} (day, user_id, spent)
    SELECT %(day)s, user_id, %(amount)s FROM account
    ON CONFLICT (day, user_id) WHERE user_id IS NOT NULL
    DO UPDATE SET spent = {DailySpend._meta.db_table}.spent + EXCLUDED.spent
)
SELECT id FROM entry
"""


def _reserve_new_pg(*, generation, amount: int) -> LedgerEntry | None:
    """The hold of a generation created in this transaction; None (and nothing written) if the
    owner has no account row or too few credits."""
    now = timezone.now()
    entry = LedgerEntry(
        user_id=generation.owner_id, kind=LedgerEntry.Kind.RESERVE, amount=-amount,
        idempotency_key=f"generation:{generation.pk}:reserve", generation=generation,
        memo="Held for a generation", created_at=now,
    )
    day = timezone.localdate(now)
    with connection.cursor() as cursor:
        cursor.execute(_RESERVE_NEW_SQL, {
            "amount": amount, "user_id": generation.owner_id, "kind": entry.kind,
            "key": entry.idempotency_key, "generation_id": generation.pk, "memo": entry.memo,
            "created_at": now, "day": day,
        })
        row = cursor.fetchone()
    if row is None:
        return None
    entry.pk = row[0]
    entry._state.adding, entry._state.db = False, connection.alias
    everyone_spend_add(day=day, amount=amount)
    return entry


_SETTLEMENTS = (LedgerEntry.Kind.CAPTURE, LedgerEntry.Kind.RELEASE)


def credits_capture(*, generation, amount: int | None = None, capture_note: str = "",
                    release_note: str = "") -> LedgerEntry | None:
    """Charge `amount` of the generation's hold (all of it when None) and return the rest with a
    release: a capture (0, the hold becomes a charge) and, when less was charged, a release (+).
    Nothing when the hold was already released in full (the generation ended otherwise)."""
    quoted = generation.quoted_credits
    amount = quoted if amount is None else max(0, min(amount, quoted))
    with transaction.atomic():
        account_lock(generation.owner)
        settled = set(
            LedgerEntry.objects.filter(generation=generation, kind__in=_SETTLEMENTS).values_list("kind", flat=True)
        )
        if settled == {LedgerEntry.Kind.RELEASE}:
            return None  # released in full: it ended another way (a partial release comes with its capture)
        entry, _ = entry_append(
            user=generation.owner, kind=LedgerEntry.Kind.CAPTURE, amount=0,
            idempotency_key=f"generation:{generation.pk}:capture", generation=generation,
            memo=f"Charged {_credits(amount)}" + (f": {capture_note}" if capture_note else ""),
        )
        if amount < quoted:
            returned = f"Returned {_credits(quoted - amount)}"
            _release(generation, quoted - amount, memo=returned + (f": {release_note}" if release_note else ""))
        return entry


def credits_refund_charge(*, generation, memo: str) -> LedgerEntry | None:
    """Give back what a succeeded generation was charged, once (its output was rejected by review and
    made again: the user pays for the delivered one only). An adjustment tied to the generation, so
    its own reserve/capture settlement stays as it was and reconciles."""
    if not generation.charged_credits:
        return None
    return entry_post(
        user=generation.owner, kind=LedgerEntry.Kind.ADJUSTMENT, amount=generation.charged_credits,
        idempotency_key=f"generation:{generation.pk}:refund", generation=generation, memo=memo,
    )


def _credits(amount: int) -> str:
    return f"{amount} credit{'' if amount == 1 else 's'}"


def credits_release(*, generation) -> LedgerEntry | None:
    """Return the whole hold: the generation did not complete. Nothing when it was captured."""
    with transaction.atomic():
        account_lock(generation.owner)
        if LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.CAPTURE).exists():
            return None
        return _release(generation, generation.quoted_credits, memo="Returned: the generation did not complete")


def _release(generation, amount: int, *, memo: str) -> LedgerEntry | None:
    """Return `amount` of the hold (with the account locked); one release per generation, by key."""
    entry, created = entry_append(
        user=generation.owner, kind=LedgerEntry.Kind.RELEASE, amount=amount,
        idempotency_key=f"generation:{generation.pk}:release", generation=generation, memo=memo,
    )
    if created and amount:
        reserved_at = (
            LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.RESERVE)
            .values_list("created_at", flat=True).first()
        )
        if reserved_at is not None:
            spend_add(day=timezone.localdate(reserved_at), user_id=generation.owner_id, amount=-amount)
    return entry
