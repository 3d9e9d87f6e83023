"""Limits on submissions (per hour, concurrent jobs, the daily cap, the global budget), checked with
the account lock so they hold across every web and worker process."""

import math
from datetime import timedelta

from django.conf import settings
from django.db.models import IntegerField, Subquery
from django.utils import timezone

from ..exceptions import RateLimitedError, human_duration
from ..models import CreditAccount
from .ledger import account_lock
from .spend import budget_error, seconds_to_midnight, spend_row

CONCURRENT_RETRY_SECONDS = 10


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
    account = account_lock(user)
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
        wanted["spent"] = Subquery(spend_row(day=today, user_id=account.user_id).values("spent")[:1])
    if budget > 0:
        wanted["spent_everyone"] = Subquery(spend_row(day=today, user_id=None).values("spent")[:1])
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
            wait = seconds_to_midnight(now)
            raise RateLimitedError(
                f"This would pass your daily limit of {cap} credits ({spent} used today). "
                f"It resets at midnight UTC, in {human_duration(wait)}.",
                retry_after=wait, code="spend_cap_reached",
            )

    if budget > 0 and (counts["spent_everyone"] or 0) + amount > budget:
        raise budget_error()
    return account

