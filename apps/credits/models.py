import uuid

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
        DAILY = "daily", "Daily free credits"
        PURCHASE = "purchase", "Purchase"
        REFUND = "refund", "Refund"
        DISPUTE = "dispute", "Dispute"
        REINSTATE = "reinstate", "Reinstated"
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
    purchase = models.ForeignKey(
        "credits.Purchase", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    # Who made a manual adjustment (staff); empty for everything the system posts.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["user", "-created_at"])]
        constraints = [
            # A hold is settled once: one capture (of what was delivered) and one release (of the
            # rest, or of everything when nothing was delivered) at most per generation.
            models.UniqueConstraint(
                fields=["generation"], condition=Q(kind="capture"), name="ledger_one_capture_per_generation",
            ),
            models.UniqueConstraint(
                fields=["generation"], condition=Q(kind="release"), name="ledger_one_release_per_generation",
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


class CreditAdjustment(LedgerEntry):
    """The ledger's manual adjustments, as staff make and audit them in the admin."""

    class Meta:
        proxy = True
        verbose_name = "credit adjustment"


class CreditPackage(BaseModel):
    """A bundle of credits for sale through Stripe Checkout, managed by staff in the admin."""

    name = models.CharField(max_length=100)
    credits = models.PositiveIntegerField()
    price_cents = models.PositiveIntegerField(help_text="The price in the currency's smallest unit (cents).")
    currency = models.CharField(max_length=3, default="usd", help_text="ISO code, lower case (usd, eur …).")
    is_active = models.BooleanField(default=True, help_text="Only active packages are offered.")
    stripe_price_id = models.CharField(
        max_length=100, blank=True, help_text="Optional: a Stripe Price (price_…) to sell; else the price above."
    )
    sort_order = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["sort_order", "price_cents"]
        constraints = [
            models.CheckConstraint(condition=Q(credits__gt=0), name="credit_package_credits_positive"),
            models.CheckConstraint(condition=Q(price_cents__gt=0), name="credit_package_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} — {self.credits} credits"

    @property
    def price_display(self) -> str:
        return format_money(self.price_cents, self.currency)


def format_money(cents: int, currency: str) -> str:
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(currency.lower())
    amount = f"{cents / 100:,.2f}"
    return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"


class Purchase(BaseModel):
    """One Checkout of a package: what was sold at what price, and what the ledger did about it.

    Credits, price and currency are copied from the package when checkout starts, so later edits
    to the package never change what a purchase grants or what its refunds take back.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting payment"
        PAID = "paid", "Paid"
        PARTIALLY_REFUNDED = "partially_refunded", "Partly refunded"
        REFUNDED = "refunded", "Refunded"
        DISPUTED = "disputed", "Disputed"
        EXPIRED = "expired", "Expired"
        FAILED = "failed", "Payment failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="purchases")
    package = models.ForeignKey(CreditPackage, on_delete=models.PROTECT, related_name="purchases")
    credits = models.PositiveIntegerField()
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    stripe_checkout_session_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # Credits a refund or dispute should have taken back but could not: the user had spent them.
    credits_shortfall = models.PositiveIntegerField(default=0)
    needs_review = models.BooleanField(
        default=False, help_text="Set when something about this purchase needs a person to look at it."
    )
    review_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="purchase_user_newest")]

    def __str__(self) -> str:
        return f"{self.credits} credits for {self.amount_display} ({self.get_status_display()})"

    @property
    def amount_display(self) -> str:
        return format_money(self.amount_cents, self.currency)


class PurchaseReversal(BaseModel):
    """A Stripe refund or dispute against a purchase, and the credits it took back (once)."""

    class Kind(models.TextChoices):
        REFUND = "refund", "Refund"
        DISPUTE = "dispute", "Dispute"

    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="reversals")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    stripe_id = models.CharField(max_length=255, unique=True, help_text="The re_… or dp_… id.")
    amount_cents = models.PositiveIntegerField()
    credits_due = models.PositiveIntegerField(help_text="What this reversal should take back.")
    credits_debited = models.PositiveIntegerField(help_text="What it could take back from the balance.")
    ledger_entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="+")
    # A failed refund or a won dispute gives the debited credits back.
    undone_entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.stripe_id}"

    @property
    def shortfall(self) -> int:
        return self.credits_due - self.credits_debited

    @property
    def is_active(self) -> bool:
        return self.undone_entry_id is None


class DailySpend(models.Model):
    """Credits held or charged per UTC day — per user, and for everyone (user empty).

    A user's row is kept in step with the ledger in the same transaction as each reserve and
    release, so the daily cap is checked under that user's account lock. Everyone's row is too
    while GLOBAL_DAILY_BUDGET is set (one conditional update); otherwise it is summed from the
    users' rows each minute, so submits don't queue on it (credits/services/spend.py).
    """

    day = models.DateField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    spent = models.BigIntegerField(default=0)
    alerted_at = models.DateTimeField(null=True, blank=True, help_text="When staff were told this day passed the alert.")

    class Meta:
        ordering = ["-day"]
        verbose_name = "daily spend"
        verbose_name_plural = "daily spend"
        constraints = [
            models.UniqueConstraint(fields=["day", "user"], condition=Q(user__isnull=False), name="daily_spend_user_day"),
            models.UniqueConstraint(fields=["day"], condition=Q(user__isnull=True), name="daily_spend_global_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.spent} credits ({self.user or 'everyone'})"


class SpendAlert(models.Model):
    """A daily spend alert sent to staff: at most one per day and kind (the unique constraint makes
    it once, whichever worker sees the threshold crossed first)."""

    class Kind(models.TextChoices):
        PROVIDER_USD = "provider_usd", "Provider dollars"

    day = models.DateField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.DecimalField(max_digits=14, decimal_places=6, help_text="The day's total when it was sent.")
    threshold = models.DecimalField(max_digits=14, decimal_places=6)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["day", "kind"], name="spend_alert_once_a_day")]

    def __str__(self) -> str:
        return f"{self.day}: {self.get_kind_display()} {self.value}"


class CostReport(DailySpend):
    """No table of its own: the admin's "Costs & margin" page (credits/admin_costs.py)."""

    class Meta:
        proxy = True
        verbose_name = "costs & margin"
        verbose_name_plural = "costs & margin"
