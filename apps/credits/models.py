from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import BaseModel


class CreditAccount(BaseModel):
    """The running balance, kept in step with the ledger in the same transaction.

    The ledger is the truth; this row is what gets locked so two spends can't race.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credit_account")
    balance = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="credit_balance_not_negative")]

    def __str__(self) -> str:
        return f"{self.user} — {self.balance} credits"


class LedgerEntry(models.Model):
    """One append-only movement of credits. Rows are never updated or deleted."""

    class Kind(models.TextChoices):
        GRANT = "grant", "Grant"
        RESERVE = "reserve", "Reserved"
        CAPTURE = "capture", "Charged"
        RELEASE = "release", "Released"
        ADJUSTMENT = "adjustment", "Adjustment"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Signed change to the spendable balance: a reserve holds (-), a release returns (+),
    # a capture turns the hold into a charge and moves nothing (0).
    amount = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=200, unique=True)
    generation = models.ForeignKey(
        "generations.Generation", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["user", "-created_at"])]
        constraints = [
            # A hold is settled once: captured or released, never both.
            models.UniqueConstraint(
                fields=["generation"],
                condition=Q(kind__in=["capture", "release"]),
                name="ledger_one_settlement_per_generation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+d} ({self.user})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only.")
