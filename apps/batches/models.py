import uuid

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel


class Batch(BaseModel):
    """Many generations submitted together: quoted and reserved as a whole, followed, canceled and
    downloaded together. Its generations are linked through BatchItem (in submission order)."""

    class Source(models.TextChoices):
        PROMPTS = "prompts", "Prompt list"
        CSV = "csv", "CSV"
        SWEEP = "sweep", "Parameter sweep"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        CANCELED = "canceled", "Canceled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batches")
    name = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    total = models.PositiveIntegerField()
    quoted_credits = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return self.name or f"Batch of {self.total}"


class BatchItem(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="items")
    index = models.PositiveIntegerField()
    generation = models.OneToOneField("generations.Generation", on_delete=models.CASCADE, related_name="batch_item")
    params = models.JSONField(default=dict, help_text="The item as submitted (prompt and parameters).")

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["batch", "index"], name="batch_item_unique_index")]
