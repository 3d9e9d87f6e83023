from django.db import models


class BaseModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class IdempotencyKey(models.Model):
    """One API POST sent with an `Idempotency-Key` header: the first request's fingerprint and,
    once it has finished, its response, replayed to every repeat for 24 hours.

    The row is inserted (and committed) before the work starts, so of two concurrent requests
    with the same key only one does the work; `status_code` is null while it runs.
    """

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=200, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class StaffAction(models.Model):
    """An audit record: a staff member changed money or content (who, what, when, before → after).

    Apps write these through `apps.core.audit.staff_action_record`; values are plain JSON and never
    hold a secret (a credential is recorded as "set, ending …abcd", never as itself)."""

    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=254, blank=True, help_text="Who, as they were named at the time.")
    action = models.CharField(max_length=100, help_text="What, e.g. catalogue.update or credentials.set.")
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=100)
    target_label = models.CharField(max_length=200, blank=True)
    # {field: [before, after]} for changes; free-form details for actions.
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["target_type", "target_id", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.actor_label or 'system'}: {self.action} {self.target_label or self.target_id}"
