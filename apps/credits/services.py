"""Every credit movement is one ledger row with a unique key, written with the account row locked.

Money in: sign-up and daily grants, Stripe purchases, staff adjustments. Money out: reservations
for generations (captured on success, released on failure), and refunds or disputes of a purchase.
Limits on submissions (per hour, concurrent jobs, daily caps, the global budget) are checked here
too, with the same account lock, so they hold across every web and worker process.
"""

import logging
import math
import uuid
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.mail import mail_admins
from django.db import IntegrityError, connection, transaction
from django.db.models import F, IntegerField, Subquery, Sum
from django.urls import reverse
from django.utils import timezone

from apps.core.exceptions import NotFoundError

from . import stripe_api
from .exceptions import (
    AdjustmentError,
    InsufficientCreditsError,
    PaymentProviderError,
    PurchasesUnavailableError,
    RateLimitedError,
    human_duration,
)
from .models import CreditAccount, CreditPackage, DailySpend, LedgerEntry, Purchase, PurchaseReversal

logger = logging.getLogger(__name__)

# Refund and dispute states in which the money is (or is about to be) gone, or has come back.
REFUND_TAKEN = {"pending", "requires_action", "succeeded"}
REFUND_UNDONE = {"failed", "canceled"}
DISPUTE_TAKEN = {"needs_response", "under_review", "lost"}
DISPUTE_UNDONE = {"won", "warning_closed"}
CONCURRENT_RETRY_SECONDS = 10
STRIPE_WEBHOOK_ENDPOINT_ID = "we_darkroom"


# ---------------------------------------------------------------- the ledger


_ACCOUNT_SQL = (
    f"SELECT {', '.join(field.column for field in CreditAccount._meta.concrete_fields)} "
    f"FROM {CreditAccount._meta.db_table} WHERE user_id = %s"
)


def _account_for_update(user) -> CreditAccount | None:
    # Plain SQL: every submit and credit move takes this lock, and the ORM's compiling cost more
    # than the statement.
    sql = _ACCOUNT_SQL + (" FOR UPDATE" if connection.features.has_select_for_update else "")
    return next(iter(CreditAccount.objects.raw(sql, [getattr(user, "pk", user)])), None)


def _locked_account(user) -> CreditAccount:
    """The user's account row, locked until commit (created on first use)."""
    account = _account_for_update(user)
    if account is None:
        CreditAccount.objects.get_or_create(user=user)
        account = _account_for_update(user)
    return account


def _append(
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
            # The account lock rules out a duplicate key, so this is the generation's other
            # settlement (capture after release, or the reverse): nothing more to move.
            return None, False
    if amount:
        CreditAccount.objects.filter(pk=account.pk).update(balance=F("balance") + amount)
        account.balance += amount
    return entry, True


def _post(
    *, user, kind: str, amount: int, idempotency_key: str, generation=None, purchase=None, actor=None,
    memo: str = "",
) -> LedgerEntry | None:
    """Append one entry and move the balance. A repeated key returns the first entry unchanged."""
    with transaction.atomic():
        _locked_account(user)
        entry, _ = _append(
            user=user, kind=kind, amount=amount, idempotency_key=idempotency_key, generation=generation,
            purchase=purchase, actor=actor, memo=memo,
        )
        return entry


def credits_grant_signup(*, user) -> LedgerEntry:
    return _post(
        user=user, kind=LedgerEntry.Kind.GRANT, amount=settings.SIGNUP_GRANT_CREDITS,
        idempotency_key=f"signup:{user.pk}", memo="Welcome credits",
    )


# ---------------------------------------------------------------- generations: reserve, capture, release


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
            account = _locked_account(generation.owner)
        entry, created = _append(
            user=generation.owner, kind=LedgerEntry.Kind.RESERVE, amount=-amount,
            idempotency_key=f"generation:{generation.pk}:reserve", generation=generation,
            memo="Held for a generation", account=account, new_key=new_generation,
        )
        if created and amount:
            _spend_add(day=timezone.localdate(entry.created_at), user_id=generation.owner_id, amount=amount)
        return entry


# A new generation's hold in one statement: the account's update (which locks its row until commit,
# and moves nothing when the balance is short), the ledger entry and the user's spend for the day,
# each written only if the balance covered the amount. Same rows as _append and _spend_add write.
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
    _everyone_spend_add(day=day, amount=amount)
    return entry


def credits_capture(*, generation) -> LedgerEntry | None:
    return _post(
        user=generation.owner, kind=LedgerEntry.Kind.CAPTURE, amount=0,
        idempotency_key=f"generation:{generation.pk}:capture", generation=generation,
        memo=f"Charged {generation.quoted_credits} credits",
    )


def credits_release(*, generation) -> LedgerEntry | None:
    with transaction.atomic():
        _locked_account(generation.owner)
        entry, created = _append(
            user=generation.owner, kind=LedgerEntry.Kind.RELEASE, amount=generation.quoted_credits,
            idempotency_key=f"generation:{generation.pk}:release", generation=generation,
            memo="Returned: the generation did not complete",
        )
        if created and generation.quoted_credits:
            reserved_at = (
                LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.RESERVE)
                .values_list("created_at", flat=True).first()
            )
            if reserved_at is not None:
                _spend_add(
                    day=timezone.localdate(reserved_at), user_id=generation.owner_id,
                    amount=-generation.quoted_credits,
                )
        return entry


# ---------------------------------------------------------------- daily spend, budget and staff alert
#
# Each user's row for the day moves with every reserve and release, under that user's account
# lock, so the per-user cap is exact. Everyone's row (user empty) is a single hot row: updating it
# in every submit would serialise all users' submits on its lock. So it moves in the transaction
# only while GLOBAL_DAILY_BUDGET is set (the budget needs that one ordering point); otherwise it is
# the sum of the users' rows, written by `credits_spend_totals_refresh` (beat, every minute), which
# also alerts staff when that sum passes the threshold.

# Recent days whose everyone-rows the refresh rewrites: a hold can be returned a while after its day.
SPEND_REFRESH_DAYS = 7


def _spend_row(*, day: date, user_id):
    """The counter for one user, or for everyone when `user_id` is None."""
    return DailySpend.objects.filter(day=day, user_id=user_id) if user_id else DailySpend.objects.filter(
        day=day, user__isnull=True
    )


def _spend_update(*, day: date, user_id, amount: int, budget: int = 0) -> bool:
    """Add to a day's counter, never past `budget` (0 = no ceiling). False if refused."""
    for _ in range(2):
        rows = _spend_row(day=day, user_id=user_id)
        if budget and amount > 0:
            rows = rows.filter(spent__lte=budget - amount)
        if rows.update(spent=F("spent") + amount):
            return True
        if _spend_row(day=day, user_id=user_id).exists():
            return False  # the row is there: the ceiling refused it
        DailySpend.objects.bulk_create([DailySpend(day=day, user_id=user_id)], ignore_conflicts=True)
    return False


def _user_spend_add(*, day: date, user_id, amount: int) -> None:
    """One statement: create the user's row for the day or add to it."""
    table = DailySpend._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (day, user_id, spent) VALUES (%s, %s, %s) "
            f"ON CONFLICT (day, user_id) WHERE user_id IS NOT NULL "
            f"DO UPDATE SET spent = {table}.spent + EXCLUDED.spent",
            [day, user_id, amount],
        )


def _spend_add(*, day: date, user_id, amount: int) -> None:
    """Move the user's counter for `day`, and everyone's when a global budget is set (locked last)."""
    _user_spend_add(day=day, user_id=user_id, amount=amount)
    _everyone_spend_add(day=day, amount=amount)


def _everyone_spend_add(*, day: date, amount: int) -> None:
    """Everyone's counter, moved in the transaction only while a global budget is set."""
    if settings.GLOBAL_DAILY_BUDGET <= 0:
        return
    budget = settings.GLOBAL_DAILY_BUDGET if amount > 0 else 0
    if not _spend_update(day=day, user_id=None, amount=amount, budget=budget):
        raise _budget_error()
    threshold = settings.DAILY_SPEND_ALERT_CREDITS
    if amount > 0 and threshold > 0:
        now = timezone.now()
        crossed = DailySpend.objects.filter(
            day=day, user__isnull=True, spent__gte=threshold, alerted_at__isnull=True
        ).update(alerted_at=now)
        if crossed:
            spent = _spend_row(day=day, user_id=None).values_list("spent", flat=True).get()
            transaction.on_commit(lambda: credits_spend_alert_send(day=day, spent=spent))


def _users_spend_total(*, day: date) -> int:
    return DailySpend.objects.filter(day=day, user__isnull=False).aggregate(total=Sum("spent"))["total"] or 0


def credits_spend_totals_refresh(*, today: date | None = None) -> int:
    """Bring the recent days' everyone-rows to the sum of the users' rows, and alert staff when a
    day's sum passed DAILY_SPEND_ALERT_CREDITS (once a day); returns the rows changed.

    Each row is locked before its sum is read, so while a global budget is set (and submits add to
    the row in their own transactions, after their user's row) a submit still in flight adds its
    amount after this write, never twice."""
    threshold = settings.DAILY_SPEND_ALERT_CREDITS
    today = today or timezone.localdate()
    days = (
        DailySpend.objects.filter(day__gt=today - timedelta(days=SPEND_REFRESH_DAYS), day__lte=today)
        .values_list("day", flat=True).distinct()
    )
    changed = 0
    for day in sorted(set(days)):
        with transaction.atomic():
            DailySpend.objects.bulk_create([DailySpend(day=day, user_id=None)], ignore_conflicts=True)
            row = _spend_row(day=day, user_id=None).select_for_update().get()
            total = _users_spend_total(day=day)
            if row.spent != total:
                changed += _spend_row(day=day, user_id=None).update(spent=total)
            if threshold > 0 and total >= threshold and row.alerted_at is None:
                _spend_row(day=day, user_id=None).update(alerted_at=timezone.now())
                transaction.on_commit(lambda day=day, total=total: credits_spend_alert_send(day=day, spent=total))
    return changed


def credits_spend_alert_send(*, day: date, spent: int) -> None:
    """Tell staff, once per day, that the day's spend passed DAILY_SPEND_ALERT_CREDITS."""
    threshold = settings.DAILY_SPEND_ALERT_CREDITS
    logger.warning(
        "daily credit spend passed the alert threshold",
        extra={"day": day.isoformat(), "spent": spent, "threshold": threshold},
    )
    mail_admins(
        f"Credit spend for {day.isoformat()} passed {threshold}",
        f"Users had spent {spent} credits on generations on {day.isoformat()} (UTC), past the alert "
        f"threshold of {threshold} (DAILY_SPEND_ALERT_CREDITS).\n\nSee Credits → Daily spend in the admin.",
        fail_silently=True,
    )


def _seconds_to_midnight(now: datetime) -> int:
    local = timezone.localtime(now)
    midnight = datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=local.tzinfo)
    return math.ceil((midnight - local).total_seconds())


def _budget_error() -> RateLimitedError:
    wait = _seconds_to_midnight(timezone.now())
    return RateLimitedError(
        f"This server has used its generation budget for today. Try again after midnight UTC, "
        f"in {human_duration(wait)}.",
        retry_after=wait, code="budget_exhausted",
    )


# ---------------------------------------------------------------- limits


class _SubqueryCount(Subquery):
    template = "(SELECT count(*) FROM (%(subquery)s) _counted)"
    output_field = IntegerField()


def credits_limits_check(*, user, amount: int, generation=None, batch_id=None) -> CreditAccount | None:
    """Refuse a submission over a limit, with when to retry. Call inside the submitting transaction,
    after creating `generation` (left out of the counts) and before reserving: the account lock taken
    here serialises the user's submissions in every process until commit, so each one counts every
    submission committed before it. Returns the locked account, for the reservation (None when no
    limit is set: there is nothing to count, so nothing to lock yet).

    The concurrent-jobs limit counts jobs, and a batch is one job however many generations it holds:
    a generation of batch `batch_id` passes if the user's other jobs leave room for that batch. The
    hourly limit still counts every generation and the daily cap every credit, batch or not.
    """
    from apps.generations.models import ACTIVE, Generation

    per_hour = settings.RATE_LIMIT_GENERATIONS_PER_HOUR
    concurrent = settings.RATE_LIMIT_CONCURRENT_JOBS
    cap = settings.USER_DAILY_SPEND_CAP
    budget = settings.GLOBAL_DAILY_BUDGET
    if per_hour <= 0 and concurrent <= 0 and cap <= 0 and budget <= 0:
        return None  # nothing to count: the reservation takes the account lock itself
    account = _locked_account(user)
    now = timezone.now()
    today = timezone.localdate(now)

    others = Generation.objects.filter(owner=user).order_by()
    if generation is not None:
        others = others.exclude(pk=generation.pk)
    active = others.filter(status__in=ACTIVE)
    # Every count the limits need, in one query. It runs after the lock is granted, so it sees
    # every submission committed before this one (one statement with the lock would not).
    wanted = {}
    if per_hour > 0:
        wanted["last_hour"] = _SubqueryCount(others.filter(created_at__gt=now - timedelta(hours=1)).values("pk"))
    if concurrent > 0:
        # Batch items are linked through the batches app's `BatchItem.generation` (related name `batch_item`).
        batches = active.filter(batch_item__isnull=False)
        if batch_id is not None:
            batches = batches.exclude(batch_item__batch=batch_id)
        wanted["single"] = _SubqueryCount(active.filter(batch_item__isnull=True).values("pk"))
        wanted["batches"] = _SubqueryCount(batches.values("batch_item__batch").distinct())
    if cap > 0:
        wanted["spent"] = Subquery(_spend_row(day=today, user_id=account.user_id).values("spent")[:1])
    if budget > 0:
        wanted["spent_everyone"] = Subquery(_spend_row(day=today, user_id=None).values("spent")[:1])
    counts = CreditAccount.objects.filter(pk=account.pk).values(**wanted).get()

    if per_hour > 0 and counts["last_hour"] >= per_hour:
        window = list(
            others.filter(created_at__gt=now - timedelta(hours=1))
            .order_by("created_at").values_list("created_at", flat=True)
        )
        frees_at = window[len(window) - per_hour] + timedelta(hours=1)
        wait = math.ceil((frees_at - now).total_seconds())
        raise RateLimitedError(
            f"You can start {per_hour} generations an hour. Try again in {human_duration(wait)}.",
            retry_after=wait, code="rate_limited",
        )

    if concurrent > 0:
        jobs = counts["single"] + counts["batches"]
        if jobs >= concurrent:
            what = (f"{jobs} generation{'s' if jobs != 1 else ''}" if not counts["batches"]
                    else f"{jobs} jobs (a batch counts as one)")
            raise RateLimitedError(
                f"You have {what} in progress, the most at once. "
                f"Start another when one finishes (try again in {human_duration(CONCURRENT_RETRY_SECONDS)}).",
                retry_after=CONCURRENT_RETRY_SECONDS, code="too_many_active",
            )

    if cap > 0:
        spent = counts["spent"] or 0
        if spent + amount > cap:
            wait = _seconds_to_midnight(now)
            raise RateLimitedError(
                f"This would pass your daily limit of {cap} credits ({spent} used today). "
                f"It resets at midnight UTC, in {human_duration(wait)}.",
                retry_after=wait, code="spend_cap_reached",
            )

    if budget > 0 and (counts["spent_everyone"] or 0) + amount > budget:
        raise _budget_error()
    return account


# ---------------------------------------------------------------- grants and adjustments


def credits_daily_grant(*, user, day: date) -> LedgerEntry | None:
    """Top the balance up to DAILY_FREE_CREDITS, at most once per user per day (the ledger key).
    Returns the new entry, or None if there was nothing to grant or it was granted already."""
    target = settings.DAILY_FREE_CREDITS
    if target <= 0:
        return None
    with transaction.atomic():
        account = _locked_account(user)
        if account.balance >= target:
            return None
        entry, created = _append(
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
    return _post(
        user=user, kind=LedgerEntry.Kind.ADJUSTMENT, amount=amount,
        idempotency_key=f"adjustment:{idempotency_key or uuid.uuid4()}", actor=actor, memo=reason,
    )


# ---------------------------------------------------------------- buying credits


def credits_checkout_start(*, user, package_id, success_url: str, cancel_url: str) -> tuple[Purchase, str]:
    """Record the purchase, then open a Stripe Checkout Session for it. Returns (purchase, checkout url)."""
    if not stripe_api.stripe_is_configured():
        raise PurchasesUnavailableError()
    package = CreditPackage.objects.filter(pk=package_id, is_active=True).first() if str(package_id).isdigit() else None
    if package is None:
        raise NotFoundError("That credit package is not on sale.")
    credits_stripe_webhook_endpoint_sync()
    purchase = Purchase.objects.create(
        user=user, package=package, credits=package.credits, amount_cents=package.price_cents,
        currency=package.currency.lower(),
    )
    # No transaction is held across the HTTP call.
    try:
        session = stripe_api.checkout_session_create(
            purchase=purchase, email=user.email, success_url=success_url, cancel_url=cancel_url,
        )
    except PaymentProviderError:
        Purchase.objects.filter(pk=purchase.pk).update(status=Purchase.Status.FAILED, updated_at=timezone.now())
        raise
    Purchase.objects.filter(pk=purchase.pk).update(stripe_checkout_session_id=session["id"], updated_at=timezone.now())
    purchase.stripe_checkout_session_id = session["id"]
    return purchase, session["url"]


def _purchase_for_session(session: dict) -> Purchase | None:
    purchase = Purchase.objects.filter(stripe_checkout_session_id=session["id"]).first()
    if purchase is None:
        logger.warning("checkout session for no known purchase", extra={"session": session["id"]})
    return purchase


def credits_purchase_grant(*, session: dict) -> LedgerEntry | None:
    """A completed Checkout Session (`checkout.session.completed` / `async_payment_succeeded`):
    grant the purchase's credits exactly once, whichever event or delivery comes first."""
    purchase = _purchase_for_session(session)
    if purchase is None:
        return None
    if session.get("payment_status") != "paid":
        return None  # e.g. a bank debit still on its way: async_payment_succeeded will follow
    return _purchase_fulfil(purchase=purchase, session=session)


def _purchase_fulfil(*, purchase: Purchase, session: dict) -> LedgerEntry | None:
    with transaction.atomic():
        _locked_account(purchase.user)
        purchase = Purchase.objects.select_for_update().select_related("package").get(pk=purchase.pk)
        paid = (session.get("amount_total"), (session.get("currency") or "").lower())
        if paid != (purchase.amount_cents, purchase.currency):
            logger.error("checkout paid a different amount than the purchase",
                         extra={"purchase": str(purchase.pk), "paid": paid})
            _purchase_flag(purchase, f"Stripe reported {paid[0]} {paid[1]} paid; no credits were granted.")
            return None
        entry, created = _append(
            user=purchase.user, kind=LedgerEntry.Kind.PURCHASE, amount=purchase.credits,
            idempotency_key=f"stripe:checkout:{session['id']}:grant", purchase=purchase,
            memo=f"Bought {purchase.package.name} ({purchase.amount_display})",
        )
        if created:
            purchase.paid_at = timezone.now()
            purchase.stripe_payment_intent_id = session.get("payment_intent") or ""
            purchase.status = _purchase_status(purchase)
            purchase.save(update_fields=["paid_at", "stripe_payment_intent_id", "status", "updated_at"])
        return entry


def credits_purchase_close(*, session: dict, status: str) -> None:
    """An expired session or a failed bank payment: the purchase ends without credits."""
    purchase = _purchase_for_session(session)
    if purchase is None:
        return
    Purchase.objects.filter(pk=purchase.pk, status=Purchase.Status.PENDING).update(
        status=status, updated_at=timezone.now()
    )


def _purchase_flag(purchase: Purchase, note: str) -> None:
    purchase.needs_review = True
    purchase.review_note = note[:300]
    purchase.save(update_fields=["needs_review", "review_note", "updated_at"])


def _purchase_status(purchase: Purchase) -> str:
    if purchase.paid_at is None:
        return purchase.status
    active = [r for r in purchase.reversals.all() if r.is_active]
    reversed_cents = sum(r.amount_cents for r in active)
    if any(r.kind == PurchaseReversal.Kind.DISPUTE for r in active):
        return Purchase.Status.DISPUTED
    if reversed_cents >= purchase.amount_cents:
        return Purchase.Status.REFUNDED
    if reversed_cents:
        return Purchase.Status.PARTIALLY_REFUNDED
    return Purchase.Status.PAID


def _purchase_for_payment(*, payment_intent_id: str | None, charge_id: str | None) -> Purchase | None:
    """The purchase a refund or dispute is about, granted first if its own event has not arrived yet."""
    if not payment_intent_id and charge_id:
        payment_intent_id = stripe_api.charge_retrieve(charge_id).get("payment_intent")
    if not payment_intent_id:
        return None
    purchase = Purchase.objects.filter(stripe_payment_intent_id=payment_intent_id).first()
    if purchase is None:
        metadata = stripe_api.payment_intent_retrieve(payment_intent_id).get("metadata") or {}
        purchase = Purchase.objects.filter(pk=_uuid(metadata.get("darkroom_purchase"))).first()
    if purchase is None:
        logger.warning("refund or dispute for no known purchase", extra={"payment_intent": payment_intent_id})
        return None
    if purchase.paid_at is None and purchase.stripe_checkout_session_id:
        # Out of order: the refund came before checkout.session.completed. Grant from Stripe's
        # current view of the session, so the reversal below has something to take back.
        session = stripe_api.checkout_session_retrieve(purchase.stripe_checkout_session_id)
        if session.get("payment_status") == "paid":
            _purchase_fulfil(purchase=purchase, session=session)
            purchase.refresh_from_db()
    return purchase


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _reversal_apply(*, purchase: Purchase, kind: str, stripe_id: str, amount_cents: int) -> PurchaseReversal:
    """Take back what `amount_cents` of the purchase granted, once per refund or dispute.

    The balance never goes negative: if the user already spent the credits, we take what is left,
    and record the rest as the purchase's shortfall, flagged for staff.
    """
    with transaction.atomic():
        account = _locked_account(purchase.user)
        purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
        existing = PurchaseReversal.objects.filter(stripe_id=stripe_id).first()
        if existing is not None:
            return existing
        granted = purchase.paid_at is not None
        earlier = sum(r.amount_cents for r in purchase.reversals.all() if r.is_active)
        total = purchase.amount_cents

        def share(cents: int) -> int:
            return purchase.credits * min(cents, total) // total

        due = share(earlier + amount_cents) - share(earlier) if granted else 0
        debit = min(due, account.balance)
        label = "Refund" if kind == PurchaseReversal.Kind.REFUND else "Dispute"
        memo = f"{label} of {purchase.amount_display} purchase"
        if debit < due:
            memo += f" ({due - debit} credits already spent)"
        entry, _ = _append(
            user=purchase.user,
            kind=LedgerEntry.Kind.REFUND if kind == PurchaseReversal.Kind.REFUND else LedgerEntry.Kind.DISPUTE,
            amount=-debit, idempotency_key=f"stripe:{kind}:{stripe_id}", purchase=purchase, memo=memo,
        )
        reversal = PurchaseReversal.objects.create(
            purchase=purchase, kind=kind, stripe_id=stripe_id, amount_cents=amount_cents, credits_due=due,
            credits_debited=debit, ledger_entry=entry,
        )
        if debit < due:
            purchase.credits_shortfall += due - debit
            purchase.needs_review = True
            purchase.review_note = (
                f"{label} {stripe_id}: {due - debit} of {due} credits could not be taken back; "
                "the user had already spent them."
            )[:300]
            logger.warning("purchase reversal short of credits", extra={
                "purchase": str(purchase.pk), "stripe_id": stripe_id, "due": due, "debited": debit,
            })
        purchase.status = _purchase_status(purchase)
        purchase.save(update_fields=["credits_shortfall", "needs_review", "review_note", "status", "updated_at"])
        return reversal


def _reversal_undo(*, stripe_id: str, why: str) -> PurchaseReversal | None:
    """A refund that failed or a dispute won: give back exactly what the reversal took."""
    reversal = PurchaseReversal.objects.filter(stripe_id=stripe_id).select_related("purchase").first()
    if reversal is None:
        return None
    with transaction.atomic():
        _locked_account(reversal.purchase.user)
        purchase = Purchase.objects.select_for_update().get(pk=reversal.purchase_id)
        reversal = PurchaseReversal.objects.select_for_update().get(pk=reversal.pk)
        if reversal.undone_entry_id is not None:
            return reversal
        entry, _ = _append(
            user=purchase.user, kind=LedgerEntry.Kind.REINSTATE, amount=reversal.credits_debited,
            idempotency_key=f"stripe:{reversal.kind}:{stripe_id}:undo", purchase=purchase,
            memo=f"Returned: {why}",
        )
        reversal.undone_entry = entry
        reversal.save(update_fields=["undone_entry", "updated_at"])
        purchase.credits_shortfall = max(0, purchase.credits_shortfall - reversal.shortfall)
        purchase.status = _purchase_status(purchase)
        purchase.save(update_fields=["credits_shortfall", "status", "updated_at"])
        return reversal


def credits_refund_apply(*, refund_id: str) -> PurchaseReversal | None:
    """Any refund event: act on the refund as Stripe sees it now, so order and replays don't matter."""
    refund = stripe_api.refund_retrieve(refund_id)
    if refund["status"] in REFUND_UNDONE:
        return _reversal_undo(stripe_id=refund["id"], why=f"the refund {refund['status']}")
    if refund["status"] not in REFUND_TAKEN:
        return None
    purchase = _purchase_for_payment(payment_intent_id=refund.get("payment_intent"), charge_id=refund.get("charge"))
    if purchase is None:
        return None
    return _reversal_apply(
        purchase=purchase, kind=PurchaseReversal.Kind.REFUND, stripe_id=refund["id"], amount_cents=refund["amount"]
    )


def credits_charge_refunds_apply(*, charge_id: str) -> list[PurchaseReversal]:
    """`charge.refunded`: apply each of the charge's refunds (each once, by its own id)."""
    applied = []
    for refund in stripe_api.refunds_for_charge(charge_id):
        if reversal := credits_refund_apply(refund_id=refund["id"]):
            applied.append(reversal)
    return applied


def credits_dispute_apply(*, dispute_id: str) -> PurchaseReversal | None:
    """Any dispute event: funds withdrawn take the credits back, a won dispute returns them."""
    dispute = stripe_api.dispute_retrieve(dispute_id)
    if dispute["status"] in DISPUTE_UNDONE:
        return _reversal_undo(stripe_id=dispute["id"], why="the dispute was closed in our favour")
    if dispute["status"] not in DISPUTE_TAKEN:
        return None  # an inquiry (warning_*): no money has moved yet
    purchase = _purchase_for_payment(payment_intent_id=dispute.get("payment_intent"), charge_id=dispute.get("charge"))
    if purchase is None:
        return None
    return _reversal_apply(
        purchase=purchase, kind=PurchaseReversal.Kind.DISPUTE, stripe_id=dispute["id"],
        amount_cents=dispute["amount"],
    )


def credits_purchase_refund_request(*, purchase: Purchase, actor) -> dict:
    """Staff: ask Stripe to refund a purchase in full. The credits move when Stripe's webhook says so."""
    if actor is None or not actor.is_staff:
        raise AdjustmentError("Only staff can refund purchases.", code="forbidden")
    if not purchase.stripe_payment_intent_id:
        raise AdjustmentError("This purchase has no payment to refund.", code="not_refundable")
    return stripe_api.refund_create(
        payment_intent_id=purchase.stripe_payment_intent_id, idempotency_key=f"darkroom-refund-{purchase.pk}"
    )


# ---------------------------------------------------------------- the Stripe webhook endpoint


def credits_stripe_webhook_uuid() -> uuid.UUID | None:
    secret = settings.DJSTRIPE_WEBHOOK_SECRET
    if not secret:
        return None
    if settings.DJSTRIPE_WEBHOOK_UUID:
        return uuid.UUID(settings.DJSTRIPE_WEBHOOK_UUID)
    return uuid.uuid5(uuid.NAMESPACE_URL, f"darkroom:stripe-webhook:{secret}")


def credits_stripe_webhook_path() -> str | None:
    endpoint_uuid = credits_stripe_webhook_uuid()
    if endpoint_uuid is None:
        return None
    return reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint_uuid})


def credits_stripe_webhook_endpoint_sync(*, using: str = "default"):
    """Keep dj-stripe's endpoint row (which its webhook view verifies signatures with) in step with
    DJSTRIPE_WEBHOOK_SECRET. Runs after `migrate` and before each checkout; a no-op without a secret."""
    from djstripe.models import WebhookEndpoint
    from djstripe.settings import djstripe_settings

    endpoint_uuid = credits_stripe_webhook_uuid()
    if endpoint_uuid is None:
        return None
    values = {
        "djstripe_uuid": endpoint_uuid,
        "secret": settings.DJSTRIPE_WEBHOOK_SECRET,
        "url": settings.SITE_URL + credits_stripe_webhook_path(),
        "enabled_events": ["*"],
        "status": "enabled",
        "livemode": settings.STRIPE_LIVE_MODE,
        "api_version": djstripe_settings.STRIPE_API_VERSION,
    }
    endpoint = WebhookEndpoint.objects.using(using).filter(id=STRIPE_WEBHOOK_ENDPOINT_ID).first()
    if endpoint is None:
        return WebhookEndpoint.objects.using(using).create(id=STRIPE_WEBHOOK_ENDPOINT_ID, **values)
    if any(getattr(endpoint, name) != value for name, value in values.items()):
        for name, value in values.items():
            setattr(endpoint, name, value)
        endpoint.save(using=using)
    return endpoint


def credits_reconcile() -> dict:
    """Recompute every balance and each day's spend counters from the ledger, and find generations
    whose settlement doesn't match their outcome. Reads only; `manage.py credits_reconcile` reports."""
    from apps.generations.models import ACTIVE, Generation, Status

    ledger = dict(LedgerEntry.objects.values("user").annotate(total=Sum("amount")).values_list("user", "total"))
    accounts = dict(CreditAccount.objects.values_list("user", "balance"))
    users = set(ledger) | set(accounts)
    balances = [
        {"user_id": user_id, "balance": accounts.get(user_id, 0), "ledger": ledger.get(user_id, 0)}
        for user_id in sorted(users)
        if accounts.get(user_id, 0) != ledger.get(user_id, 0)
    ]

    # Each generation: one reserve; captured if it succeeded, released if it ended any other way.
    reserve_day: dict = {}
    settled: dict = {}
    expected_spend: dict[tuple, int] = {}
    moves = LedgerEntry.objects.filter(
        kind__in=[LedgerEntry.Kind.RESERVE, LedgerEntry.Kind.CAPTURE, LedgerEntry.Kind.RELEASE]
    ).order_by("id").values_list("generation_id", "user_id", "kind", "amount", "created_at")
    for generation_id, user_id, kind, amount, created_at in moves.iterator(chunk_size=5000):
        if kind == LedgerEntry.Kind.RESERVE:
            reserve_day[generation_id] = timezone.localdate(created_at)
        else:
            settled[generation_id] = kind
        day = reserve_day.get(generation_id)
        if day is not None and kind != LedgerEntry.Kind.CAPTURE:
            for key in ((day, user_id), (day, None)):  # spend: what reserves hold, less what releases return
                expected_spend[key] = expected_spend.get(key, 0) - amount
    settlements = []
    for generation_id, status in Generation.objects.values_list("pk", "status").iterator(chunk_size=5000):
        expected = (
            None if status in ACTIVE
            else LedgerEntry.Kind.CAPTURE if status == Status.SUCCEEDED
            else LedgerEntry.Kind.RELEASE
        )
        if generation_id not in reserve_day or settled.get(generation_id) != expected:
            settlements.append({
                "generation_id": str(generation_id), "status": status, "reserved": generation_id in reserve_day,
                "settlement": settled.get(generation_id), "expected": expected,
            })

    counted = {(day, user_id): spent for day, user_id, spent in DailySpend.objects.values_list("day", "user_id", "spent")}
    if settings.GLOBAL_DAILY_BUDGET <= 0:
        # Without a budget everyone's row trails the users' rows until the next refresh: the day's
        # total is the sum of the users' rows, each of which must match the ledger exactly.
        counted = {key: spent for key, spent in counted.items() if key[1] is not None}
        for (day, user_id), spent in list(counted.items()):
            counted[(day, None)] = counted.get((day, None), 0) + spent
    spend = [
        {"day": key[0].isoformat(), "user_id": key[1], "counter": counted.get(key, 0), "ledger": expected_spend.get(key, 0)}
        for key in sorted(set(expected_spend) | set(counted), key=lambda k: (k[0], k[1] or 0))
        if expected_spend.get(key, 0) != counted.get(key, 0)
    ]
    return {
        "accounts": len(users),
        "entries": LedgerEntry.objects.count(),
        "balance_mismatches": balances,
        "settlement_mismatches": settlements,
        "spend_mismatches": spend,
    }
