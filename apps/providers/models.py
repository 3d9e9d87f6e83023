from django.db import models


class CircuitBreaker(models.Model):
    """Shared breaker state for a provider or a provider model, seen by every worker process."""

    class State(models.TextChoices):
        CLOSED = "closed", "Closed"
        OPEN = "open", "Open"
        HALF_OPEN = "half_open", "Half-open (probing)"

    key = models.CharField(max_length=250, unique=True, help_text="provider, or provider:model")
    state = models.CharField(max_length=10, choices=State.choices, default=State.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    probe_started_at = models.DateTimeField(null=True, blank=True)
    # The provider refused our credentials (401/403, or 402 for credit): a setup error for staff, kept
    # apart from failures. Cleared by the next success, or when staff close the breaker.
    refused_at = models.DateTimeField(null=True, blank=True)
    refused_status = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.get_state_display()}"


class ProviderCall(models.Model):
    """One call to a provider, kept for the ops view: latency and errors by class."""

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        RETRYABLE = "retryable", "Retryable error"
        REJECTED = "rejected", "Rejected"
        BLOCKED = "blocked", "Blocked"
        CREDENTIALS_REFUSED = "credentials", "Credentials refused"
        # The request went out, its answer was lost: the provider may have made (and billed) the job.
        ANSWER_LOST = "answer_lost", "Answer lost"
        STOPPED = "stopped", "Stopped: the job was no longer wanted"

    # Creates that may have made a billable job at the provider (see credits_reconcile).
    BILLABLE_OPERATIONS = ("submit", "run")
    BILLABLE_OUTCOMES = (Outcome.OK, Outcome.ANSWER_LOST)

    provider = models.CharField(max_length=50)
    model = models.CharField(max_length=200)
    operation = models.CharField(max_length=20)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    latency_ms = models.PositiveIntegerField()
    # The generation the call was made for (no foreign key: providers know nothing of generations).
    generation_id = models.UUIDField(null=True, blank=True, db_index=True)
    # What the provider bills for this call, estimated from the route's cost (costs.py); empty for
    # calls that bill nothing (polls, refusals) and for routes without a cost.
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["provider", "-created_at"])]


class WebhookDelivery(models.Model):
    """A verified webhook delivery, stored as it arrives and applied later by a task: a replayed or
    duplicated one is ignored; one naming a job whose id is not saved yet (the provider called back
    before its create answer reached us) waits, unapplied, until it is."""

    provider = models.CharField(max_length=50)
    delivery_id = models.CharField(max_length=200)
    provider_job_id = models.CharField(max_length=200)
    # What it said (`types.ProviderStatus`, see `services.status_to_json`).
    status = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "delivery_id"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(fields=["provider", "provider_job_id"], condition=models.Q(applied_at__isnull=True),
                         name="webhook_delivery_pending"),
        ]


class ProviderCredential(models.Model):
    """A provider key entered by staff in the admin, encrypted at rest (`credentials.py`). An
    environment variable for the same provider wins over it."""

    provider = models.CharField(max_length=50, unique=True)
    secret_encrypted = models.TextField(blank=True)
    # The key's last four characters, to tell keys apart without showing them.
    last4 = models.CharField(max_length=4, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The last "test connection": when, whether the provider accepted the key, and why not.
    tested_at = models.DateTimeField(null=True, blank=True)
    test_ok = models.BooleanField(null=True, blank=True)
    test_message = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["provider"]

    def __str__(self) -> str:
        return self.provider
