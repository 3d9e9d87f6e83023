"""Daily spend counters (per user, and everyone's), the global budget, and the staff alerts (credits
and provider dollars)."""

import logging
import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.mail import mail_admins
from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from apps.providers.models import ProviderCall

from ..exceptions import RateLimitedError, human_duration
from ..models import DailySpend, SpendAlert

logger = logging.getLogger(__name__)


# Each user's row for the day moves with every reserve and release, under that user's account
# lock, so the per-user cap is exact. Everyone's row (user empty) is a single hot row: updating it
# in every submit would serialise all users' submits on its lock. So it moves in the transaction
# only while GLOBAL_DAILY_BUDGET is set (the budget needs that one ordering point); otherwise it is
# the sum of the users' rows, written by `credits_spend_totals_refresh` (beat, every minute), which
# also alerts staff when that sum passes the threshold.

# Recent days whose everyone-rows the refresh rewrites: a hold can be returned a while after its day.
SPEND_REFRESH_DAYS = 7


def spend_row(*, day: date, user_id):
    """The counter for one user, or for everyone when `user_id` is None."""
    return DailySpend.objects.filter(day=day, user_id=user_id) if user_id else DailySpend.objects.filter(
        day=day, user__isnull=True
    )


def _spend_update(*, day: date, user_id, amount: int, budget: int = 0) -> bool:
    """Add to a day's counter, never past `budget` (0 = no ceiling). False if refused."""
    for _ in range(2):
        rows = spend_row(day=day, user_id=user_id)
        if budget and amount > 0:
            rows = rows.filter(spent__lte=budget - amount)
        if rows.update(spent=F("spent") + amount):
            return True
        if spend_row(day=day, user_id=user_id).exists():
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


def spend_add(*, day: date, user_id, amount: int) -> None:
    """Move the user's counter for `day`, and everyone's when a global budget is set (locked last)."""
    _user_spend_add(day=day, user_id=user_id, amount=amount)
    everyone_spend_add(day=day, amount=amount)


def everyone_spend_add(*, day: date, amount: int) -> None:
    """Everyone's counter, moved in the transaction only while a global budget is set."""
    if settings.GLOBAL_DAILY_BUDGET <= 0:
        return
    budget = settings.GLOBAL_DAILY_BUDGET if amount > 0 else 0
    if not _spend_update(day=day, user_id=None, amount=amount, budget=budget):
        raise budget_error()
    threshold = settings.DAILY_SPEND_ALERT_CREDITS
    if amount > 0 and threshold > 0:
        now = timezone.now()
        crossed = DailySpend.objects.filter(
            day=day, user__isnull=True, spent__gte=threshold, alerted_at__isnull=True
        ).update(alerted_at=now)
        if crossed:
            spent = spend_row(day=day, user_id=None).values_list("spent", flat=True).get()
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
            row = spend_row(day=day, user_id=None).select_for_update().get()
            total = _users_spend_total(day=day)
            if row.spent != total:
                changed += spend_row(day=day, user_id=None).update(spent=total)
            if threshold > 0 and total >= threshold and row.alerted_at is None:
                spend_row(day=day, user_id=None).update(alerted_at=timezone.now())
                transaction.on_commit(lambda day=day, total=total: credits_spend_alert_send(day=day, spent=total))
    credits_provider_spend_alert_check(today=today)
    return changed


def provider_spend_usd(*, day: date) -> Decimal:
    """What the providers billed for the calls of one day (estimated from the routes' costs)."""
    start = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
    return ProviderCall.objects.filter(
        created_at__gte=start, created_at__lt=start + timedelta(days=1), cost_usd__isnull=False,
    ).aggregate(total=Sum("cost_usd"))["total"] or Decimal(0)


def credits_provider_spend_alert_check(*, today: date | None = None) -> bool:
    """Alert staff once a day when the day's provider dollars pass DAILY_PROVIDER_SPEND_ALERT_USD.
    Once is the database's unique (day, kind): of two workers crossing it together one inserts, one
    finds the row. True when this call sent the alert."""
    threshold = Decimal(str(settings.DAILY_PROVIDER_SPEND_ALERT_USD))
    if threshold <= 0:
        return False
    today = today or timezone.localdate()
    spent = provider_spend_usd(day=today)
    if spent < threshold:
        return False
    with transaction.atomic():
        _, created = SpendAlert.objects.get_or_create(
            day=today, kind=SpendAlert.Kind.PROVIDER_USD, defaults={"value": spent, "threshold": threshold},
        )
        if created:
            transaction.on_commit(lambda: credits_provider_spend_alert_send(day=today, spent=spent, threshold=threshold))
    return created


def credits_provider_spend_alert_send(*, day: date, spent: Decimal, threshold: Decimal) -> None:
    logger.warning(
        "daily provider spend passed the alert threshold",
        extra={"day": day.isoformat(), "spent_usd": str(spent), "threshold_usd": str(threshold)},
    )
    mail_admins(
        f"Provider spend for {day.isoformat()} passed ${threshold:.2f}",
        f"Providers have billed an estimated ${spent:.2f} for calls made on {day.isoformat()} (UTC), past "
        f"the alert threshold of ${threshold:.2f} (DAILY_PROVIDER_SPEND_ALERT_USD).\n\nSee Credits → Costs & "
        f"margin in the admin for the models and people behind it.",
        fail_silently=True,
    )


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


def seconds_to_midnight(now: datetime) -> int:
    local = timezone.localtime(now)
    midnight = datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=local.tzinfo)
    return math.ceil((midnight - local).total_seconds())


def budget_error() -> RateLimitedError:
    wait = seconds_to_midnight(timezone.now())
    return RateLimitedError(
        f"This server has used its generation budget for today. Try again after midnight UTC, "
        f"in {human_duration(wait)}.",
        retry_after=wait, code="budget_exhausted",
    )

