"""Money in without a payment: sign-up and daily free credits, staff adjustments."""

import uuid
from datetime import date

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.audit import staff_action_record

from ..exceptions import AdjustmentError
from ..models import LedgerEntry
from .ledger import account_lock, entry_append, entry_post


def credits_grant_signup(*, user) -> LedgerEntry:
    return entry_post(
        user=user, kind=LedgerEntry.Kind.GRANT, amount=settings.SIGNUP_GRANT_CREDITS,
        idempotency_key=f"signup:{user.pk}", memo="Welcome credits",
    )


def credits_daily_grant(*, user, day: date) -> LedgerEntry | None:
    """Top the balance up to DAILY_FREE_CREDITS, at most once per user per day (the ledger key).
    Returns the new entry, or None if there was nothing to grant or it was granted already."""
    target = settings.DAILY_FREE_CREDITS
    if target <= 0:
        return None
    with transaction.atomic():
        account = account_lock(user)
        if account.balance >= target:
            return None
        entry, created = entry_append(
            user=user, kind=LedgerEntry.Kind.DAILY, amount=target - account.balance,
            idempotency_key=f"daily:{user.pk}:{day.isoformat()}", memo=f"Daily free credits ({day.isoformat()})",
        )
        return entry if created else None


def credits_daily_refresh(*, day: date | None = None) -> dict:
    """The beat task's work: every active user below the daily amount, one transaction each."""
    from apps.accounts.models import User

    day = day or timezone.localdate()
    target = settings.DAILY_FREE_CREDITS
    granted = credits = 0
    if target > 0:
        candidates = User.objects.filter(is_active=True).exclude(credit_account__balance__gte=target)
        user_ids = list(candidates.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(user_ids), 500):
            for user in User.objects.filter(pk__in=user_ids[start:start + 500]).order_by("pk"):
                if entry := credits_daily_grant(user=user, day=day):
                    granted += 1
                    credits += entry.amount
    return {"day": day.isoformat(), "granted": granted, "credits": credits}


def credits_adjust(*, user, amount: int, reason: str, actor, idempotency_key: str | None = None) -> LedgerEntry:
    """A staff correction, with its reason and who made it. A debit can't take the balance below zero."""
    reason = (reason or "").strip()
    if actor is None or not actor.is_staff:
        raise AdjustmentError("Only staff can adjust credits.", code="forbidden")
    if not reason:
        raise AdjustmentError("Give the reason for this adjustment; it is kept in the ledger.")
    if not amount:
        raise AdjustmentError("The adjustment must add or remove at least one credit.")
    with transaction.atomic():
        account_lock(user)
        entry, created = entry_append(
            user=user, kind=LedgerEntry.Kind.ADJUSTMENT, amount=amount,
            idempotency_key=f"adjustment:{idempotency_key or uuid.uuid4()}", actor=actor, memo=reason,
        )
        if created:  # a repeated submit changes nothing, and is not audited twice
            staff_action_record(actor=actor, action="credits.adjust", target=user, target_type="credits.account",
                                target_label=getattr(user, "email", str(user)),
                                changes={"amount": [None, amount], "reason": [None, reason], "entry": [None, entry.pk if entry else None]})
        return entry

