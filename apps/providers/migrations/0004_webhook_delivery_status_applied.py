"""Webhook deliveries keep what they said and when they were applied: the endpoint stores them and
answers at once, a task applies them, and one for a job whose id is not saved yet waits for it."""

from django.db import migrations, models
from django.utils import timezone


def mark_applied(apps, schema_editor):
    # Deliveries seen before were applied (or dropped) as they arrived.
    apps.get_model("providers", "WebhookDelivery").objects.update(applied_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [("providers", "0003_providercall_generation_id_and_more")]

    operations = [
        migrations.AddField(model_name="webhookdelivery", name="status", field=models.JSONField(default=dict)),
        migrations.AddField(
            model_name="webhookdelivery", name="applied_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.RunPython(mark_applied, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                condition=models.Q(applied_at__isnull=True), fields=["provider", "provider_job_id"],
                name="webhook_delivery_pending",
            ),
        ),
    ]
