"""Every credit movement is one ledger row with a unique key, written with the account row locked."""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from .exceptions import InsufficientCreditsError
from .models import CreditAccount, LedgerEntry


def _locked_account(user) -> CreditAccount:
    CreditAccount.objects.get_or_create(user=user)
    return CreditAccount.objects.select_for_update().get(user=user)


def _post(
    *, user, kind: str, amount: int, idempotency_key: str, generation=None, memo: str = ""
) -> LedgerEntry | None:
    """Append one entry and move the balance. A repeated key returns the first entry unchanged."""
    with transaction.atomic():
        account = _locked_account(user)
        existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
        if amount < 0 and account.balance + amount < 0:
            raise InsufficientCreditsError(needed=-amount, balance=account.balance)
        try:
            with transaction.atomic():
                entry = LedgerEntry.objects.create(
                    user=user, kind=kind, amount=amount, idempotency_key=idempotency_key,
                    generation=generation, memo=memo,
                )
        except IntegrityError:
            # The account lock rules out a duplicate key, so this is the generation's other
            # settlement (capture after release, or the reverse): nothing more to move.
            return None
        if amount:
            CreditAccount.objects.filter(pk=account.pk).update(balance=F("balance") + amount)
        return entry


def credits_grant_signup(*, user) -> LedgerEntry:
    return _post(
        user=user, kind=LedgerEntry.Kind.GRANT, amount=settings.SIGNUP_GRANT_CREDITS,
        idempotency_key=f"signup:{user.pk}", memo="Welcome credits",
    )


def credits_reserve(*, generation, amount: int) -> LedgerEntry:
    return _post(
        user=generation.owner, kind=LedgerEntry.Kind.RESERVE, amount=-amount,
        idempotency_key=f"generation:{generation.pk}:reserve", generation=generation,
        memo="Held for a generation",
    )


def credits_capture(*, generation) -> LedgerEntry | None:
    return _post(
        user=generation.owner, kind=LedgerEntry.Kind.CAPTURE, amount=0,
        idempotency_key=f"generation:{generation.pk}:capture", generation=generation,
        memo=f"Charged {generation.quoted_credits} credits",
    )


def credits_release(*, generation) -> LedgerEntry | None:
    return _post(
        user=generation.owner, kind=LedgerEntry.Kind.RELEASE, amount=generation.quoted_credits,
        idempotency_key=f"generation:{generation.pk}:release", generation=generation,
        memo="Returned: the generation did not complete",
    )
