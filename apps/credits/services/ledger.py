"""The ledger's one write path: every credit movement is one entry with a unique key, appended with
the account row locked. The other credits modules move money only through `entry_append` and
`entry_post`, holding `account_lock`."""

from django.db import IntegrityError, connection, transaction
from django.db.models import F

from ..exceptions import InsufficientCreditsError
from ..models import CreditAccount, LedgerEntry

_ACCOUNT_SQL = (
    f"SELECT {', '.join(field.column for field in CreditAccount._meta.concrete_fields)} "
    f"FROM {CreditAccount._meta.db_table} WHERE user_id = %s"
)


def _account_for_update(user) -> CreditAccount | None:
    # Plain SQL: every submit and credit move takes this lock, and the ORM's compiling cost more
    # than the statement.
    sql = _ACCOUNT_SQL + (" FOR UPDATE" if connection.features.has_select_for_update else "")
    return next(iter(CreditAccount.objects.raw(sql, [getattr(user, "pk", user)])), None)


def account_lock(user) -> CreditAccount:
    """The user's account row, locked until commit (created on first use)."""
    account = _account_for_update(user)
    if account is None:
        CreditAccount.objects.get_or_create(user=user)
        account = _account_for_update(user)
    return account


def entry_append(
    *, user, kind: str, amount: int, idempotency_key: str, generation=None, purchase=None, actor=None,
    memo: str = "", account: CreditAccount | None = None, new_key: bool = False,
) -> tuple[LedgerEntry | None, bool]:
    """Append one entry and move the balance; returns (entry, created). Call with the account locked;
    pass that `account` to save reading it again (its balance is kept current). `new_key`: the key
    names something created in this transaction, so it can't be taken and the lookup is skipped
    (were it wrong, the unique key would still refuse the entry)."""
    if not new_key:
        existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    if account is None:
        account = CreditAccount.objects.get(user=user)
    if amount < 0 and account.balance + amount < 0:
        raise InsufficientCreditsError(needed=-amount, balance=account.balance)
    entry = LedgerEntry(
        user=user, kind=kind, amount=amount, idempotency_key=idempotency_key,
        generation=generation, purchase=purchase, actor=actor, memo=memo[:200],
    )
    if new_key:
        entry.save(force_insert=True)
    else:
        try:
            with transaction.atomic():
                entry.save(force_insert=True)
        except IntegrityError:
            # The account lock rules out a duplicate key, so this is a generation's second capture
            # or release under another key: nothing more to move.
            return None, False
    if amount:
        CreditAccount.objects.filter(pk=account.pk).update(balance=F("balance") + amount)
        account.balance += amount
    return entry, True


def entry_post(
    *, user, kind: str, amount: int, idempotency_key: str, generation=None, purchase=None, actor=None,
    memo: str = "",
) -> LedgerEntry | None:
    """Append one entry and move the balance. A repeated key returns the first entry unchanged."""
    with transaction.atomic():
        account_lock(user)
        entry, _ = entry_append(
            user=user, kind=kind, amount=amount, idempotency_key=idempotency_key, generation=generation,
            purchase=purchase, actor=actor, memo=memo,
        )
        return entry


