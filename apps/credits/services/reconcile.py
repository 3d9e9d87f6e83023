"""Reading the ledger back: balances, settlements and spend counters that don't match it."""

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from ..models import CreditAccount, DailySpend, LedgerEntry


def credits_reconcile() -> dict:
    """Recompute every balance and each day's spend counters from the ledger, and find generations
    whose settlement doesn't match their outcome or that made more billable provider jobs than route
    attempts (`_provider_job_mismatches`). Reads only; `manage.py credits_reconcile` reports."""
    from apps.generations.models import ACTIVE, Generation, Status

    ledger = dict(LedgerEntry.objects.values("user").annotate(total=Sum("amount")).values_list("user", "total"))
    accounts = dict(CreditAccount.objects.values_list("user", "balance"))
    users = set(ledger) | set(accounts)
    balances = [
        {"user_id": user_id, "balance": accounts.get(user_id, 0), "ledger": ledger.get(user_id, 0)}
        for user_id in sorted(users)
        if accounts.get(user_id, 0) != ledger.get(user_id, 0)
    ]

    # Each generation: one reserve; when it succeeded a capture (and a release of what was not
    # delivered), when it ended any other way a release of everything; what it kept is its charge.
    reserve_day: dict = {}
    settled: dict = {}
    net: dict = {}
    expected_spend: dict[tuple, int] = {}
    moves = LedgerEntry.objects.filter(
        kind__in=[LedgerEntry.Kind.RESERVE, LedgerEntry.Kind.CAPTURE, LedgerEntry.Kind.RELEASE]
    ).order_by("id").values_list("generation_id", "user_id", "kind", "amount", "created_at")
    for generation_id, user_id, kind, amount, created_at in moves.iterator(chunk_size=5000):
        if kind == LedgerEntry.Kind.RESERVE:
            reserve_day[generation_id] = timezone.localdate(created_at)
        elif kind == LedgerEntry.Kind.CAPTURE or settled.get(generation_id) != LedgerEntry.Kind.CAPTURE:
            settled[generation_id] = kind  # a capture names the settlement; its partial release does not
        net[generation_id] = net.get(generation_id, 0) - amount
        day = reserve_day.get(generation_id)
        if day is not None and kind != LedgerEntry.Kind.CAPTURE:
            for key in ((day, user_id), (day, None)):  # spend: what reserves hold, less what releases return
                expected_spend[key] = expected_spend.get(key, 0) - amount
    settlements = []
    rows = Generation.objects.values_list("pk", "status", "charged_credits")
    for generation_id, status, charged in rows.iterator(chunk_size=5000):
        expected = (
            None if status in ACTIVE
            else LedgerEntry.Kind.CAPTURE if status == Status.SUCCEEDED
            else LedgerEntry.Kind.RELEASE
        )
        expected_charge = charged if status == Status.SUCCEEDED else 0
        kept = net.get(generation_id, 0)
        if (
            generation_id not in reserve_day or settled.get(generation_id) != expected
            or (expected is not None and kept != expected_charge)
        ):
            settlements.append({
                "generation_id": str(generation_id), "status": status, "reserved": generation_id in reserve_day,
                "settlement": settled.get(generation_id), "expected": expected,
                "charged": kept, "expected_charge": expected_charge if expected is not None else None,
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
        "provider_job_mismatches": _provider_job_mismatches(),
        "accounts": len(users),
        "entries": LedgerEntry.objects.count(),
        "balance_mismatches": balances,
        "settlement_mismatches": settlements,
        "spend_mismatches": spend,
    }


def _provider_job_mismatches() -> list[dict]:
    """Generations with more billable provider jobs than route attempts.

    Billable provider jobs: the generation's `ProviderCall` rows of a create (`submit`) or a blocking
    `run` that may have made a job the provider bills — answered OK, or whose answer was lost
    (`answer_lost`). Creates refused (429, 5xx, 4xx answers, connect errors) made nothing and don't
    count. Route attempts: `Generation.route_attempts`, counted before each route's create, plus the
    one deliberate re-send after a lost answer. A blind retry of a create (a second billable call on
    one attempt) shows here. A blocking run is one row whatever images it made: its adapter retries
    only refused calls, so each run bills at most once per image."""
    from apps.generations.models import Generation
    from apps.providers.models import ProviderCall

    billable = dict(
        ProviderCall.objects.filter(
            generation_id__isnull=False, operation__in=ProviderCall.BILLABLE_OPERATIONS,
            outcome__in=ProviderCall.BILLABLE_OUTCOMES,
        ).values("generation_id").annotate(jobs=Count("id")).values_list("generation_id", "jobs")
    )
    attempts = dict(Generation.objects.filter(pk__in=list(billable)).values_list("pk", "route_attempts"))
    return [
        {"generation_id": str(generation_id), "billable_jobs": jobs, "route_attempts": attempts[generation_id]}
        for generation_id, jobs in sorted(billable.items(), key=lambda item: str(item[0]))
        if generation_id in attempts and jobs > attempts[generation_id]
    ]
