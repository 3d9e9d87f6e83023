import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, QuerySet, Sum

from apps.core.exceptions import NotFoundError
from apps.core.pagination import Page, keyset_page
from apps.generations.models import Generation
from apps.providers.models import ProviderCall

from .models import CreditAccount, CreditPackage, DailySpend, LedgerEntry, Purchase
from .stripe_api import stripe_is_configured

_BALANCE_SQL = f"SELECT balance FROM {CreditAccount._meta.db_table} WHERE user_id = %s"


def credits_balance_get(*, user) -> int:
    """`user`: a user or a user id. Read on every page and with every submit's live event: one
    plain statement, as compiling the ORM query cost several times what running it does."""
    with connection.cursor() as cursor:
        cursor.execute(_BALANCE_SQL, [getattr(user, "pk", user)])
        row = cursor.fetchone()
    return row[0] if row else 0


def credits_ledger_balance(*, user) -> int:
    """The balance recomputed from the ledger, for reconciliation."""
    return LedgerEntry.objects.filter(user=user).aggregate(total=Sum("amount"))["total"] or 0


def credits_balance_is_low(*, balance: int) -> bool:
    return balance < settings.LOW_BALANCE_CREDITS


def credits_ledger_page(*, user, cursor: str | None = None, limit: int = 25) -> Page[LedgerEntry]:
    """The user's own ledger, newest first, with what each entry paid for."""
    entries = LedgerEntry.objects.filter(user=user).select_related("generation__catalog_model", "purchase__package")
    return keyset_page(entries, cursor=cursor, limit=limit)


@dataclass(frozen=True)
class HistoryRow:
    """One line of the credits history: a ledger entry, or a generation's hold with its settlement
    folded in, so a job reads as what it finally cost."""

    entry: LedgerEntry
    amount: int
    settled: str | None = None  # "capture" or "release" once a generation's hold is settled

    @property
    def kind(self) -> str:
        return self.entry.kind

    @property
    def spent(self) -> int:
        return -self.amount


_SETTLEMENTS = (LedgerEntry.Kind.CAPTURE, LedgerEntry.Kind.RELEASE)


def credits_history_page(*, user, cursor: str | None = None, limit: int = 25) -> Page[HistoryRow]:
    """The user's history, newest first, one row per job: a generation's capture or release is
    shown on its hold's row (paged by the hold), with the amount it finally cost."""
    entries = (
        LedgerEntry.objects.filter(user=user)
        .exclude(kind__in=_SETTLEMENTS, generation__isnull=False)
        .select_related("generation__catalog_model", "purchase__package")
    )
    page = keyset_page(entries, cursor=cursor, limit=limit)
    held = [e.generation_id for e in page.items if e.kind == LedgerEntry.Kind.RESERVE and e.generation_id]
    settlements = {
        e.generation_id: e for e in LedgerEntry.objects.filter(user=user, generation_id__in=held, kind__in=_SETTLEMENTS)
    }
    rows = []
    for entry in page.items:
        settlement = settlements.get(entry.generation_id) if entry.kind == LedgerEntry.Kind.RESERVE else None
        rows.append(HistoryRow(
            entry=entry, amount=entry.amount + (settlement.amount if settlement else 0),
            settled=settlement.kind if settlement else None,
        ))
    return Page(items=rows, next_cursor=page.next_cursor)


def credits_packages_for_sale() -> QuerySet[CreditPackage]:
    return CreditPackage.objects.filter(is_active=True)


def credits_purchases_enabled() -> bool:
    return stripe_is_configured()


def credits_purchase_get_for_user(*, user, purchase_id) -> Purchase:
    try:
        purchase = (
            Purchase.objects.filter(pk=uuid.UUID(str(purchase_id)), user=user).select_related("package").first()
        )
    except ValueError:
        purchase = None
    if purchase is None:
        raise NotFoundError("Purchase not found.")
    return purchase


def credits_purchase_for_session(*, user, session_id: str) -> Purchase:
    purchase = Purchase.objects.filter(user=user, stripe_checkout_session_id=session_id).first() if session_id else None
    if purchase is None:
        raise NotFoundError("Purchase not found.")
    return purchase


def credits_purchase_entries(*, purchase: Purchase) -> list[LedgerEntry]:
    return list(purchase.ledger_entries.order_by("created_at", "id"))


def credits_spend_today(*, day) -> int:
    """Everyone's spend on `day`: the sum of the users' rows (everyone's own row may trail it by a minute)."""
    return DailySpend.objects.filter(day=day, user__isnull=False).aggregate(total=Sum("spent"))["total"] or 0


# ---------------------------------------------------------------- costs and margin (staff only)


def _usd(value) -> Decimal:
    return (value or Decimal(0)).quantize(Decimal("0.0001"))


def _with_margin(row: dict, credit_value: Decimal) -> dict:
    revenue = Decimal(row["credits"] or 0) * credit_value
    provider = row["provider_usd"] or Decimal(0)
    margin = revenue - provider
    return {
        **row, "credits": row["credits"] or 0, "revenue_usd": _usd(revenue), "provider_usd": _usd(provider),
        "margin_usd": _usd(margin), "margin_percent": round(margin / revenue * 100, 1) if revenue else None,
    }


def costs_by_model(*, since: datetime) -> list[dict]:
    """Per catalogue model since `since`: generations, credits charged, what they bring in at
    CREDIT_VALUE_USD, what the providers billed (finished generations) and the margin; costliest first."""
    credit_value = Decimal(str(settings.CREDIT_VALUE_USD))
    rows = (
        Generation.objects.filter(created_at__gte=since)
        .values(slug=F("catalog_model__slug"), label=F("catalog_model__label"))
        .annotate(generations=Count("id"), credits=Sum("charged_credits"), provider_usd=Sum("provider_cost_usd"))
        .order_by("-provider_usd", "label")
    )
    return [_with_margin(dict(row), credit_value) for row in rows]


def costs_top_spenders(*, since: datetime, limit: int = 10) -> list[dict]:
    """The people whose generations cost the providers most since `since`."""
    credit_value = Decimal(str(settings.CREDIT_VALUE_USD))
    rows = (
        Generation.objects.filter(created_at__gte=since)
        .values(user_id=F("owner_id"), email=F("owner__email"))
        .annotate(generations=Count("id"), credits=Sum("charged_credits"), provider_usd=Sum("provider_cost_usd"))
        .order_by("-provider_usd", "-credits")[:limit]
    )
    return [_with_margin(dict(row), credit_value) for row in rows]


def costs_by_provider(*, since: datetime) -> list[dict]:
    """Billed calls and dollars per provider since `since` (every billed call, running jobs' too)."""
    rows = (
        ProviderCall.objects.filter(created_at__gte=since, cost_usd__isnull=False)
        .values("provider").annotate(calls=Count("id"), usd=Sum("cost_usd")).order_by("-usd")
    )
    return [{**row, "usd": _usd(row["usd"])} for row in rows]


def costs_totals(*, since: datetime) -> dict:
    """Everything since `since` in one row: credits charged, their dollar value, provider dollars, margin."""
    credit_value = Decimal(str(settings.CREDIT_VALUE_USD))
    row = Generation.objects.filter(created_at__gte=since).aggregate(
        generations=Count("id"), credits=Sum("charged_credits"), provider_usd=Sum("provider_cost_usd"))
    return _with_margin(row, credit_value)
