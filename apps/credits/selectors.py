from django.db.models import Sum

from .models import CreditAccount, LedgerEntry


def credits_balance_get(*, user) -> int:
    return CreditAccount.objects.filter(user=user).values_list("balance", flat=True).first() or 0


def credits_ledger_balance(*, user) -> int:
    """The balance recomputed from the ledger, for reconciliation."""
    return LedgerEntry.objects.filter(user=user).aggregate(total=Sum("amount"))["total"] or 0
