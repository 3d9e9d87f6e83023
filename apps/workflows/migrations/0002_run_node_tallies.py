from django.db import migrations, models
from django.db.models import Count, Q


def tallies_fill(apps, schema_editor):
    """Existing runs get their tallies counted from their nodes once."""
    WorkflowRun = apps.get_model("workflows", "WorkflowRun")
    runs = WorkflowRun.objects.annotate(
        total=Count("nodes"),
        active=Count("nodes", filter=Q(nodes__status__in=["queued", "running"])),
        succeeded=Count("nodes", filter=Q(nodes__status="succeeded")),
        failed=Count("nodes", filter=Q(nodes__status="failed")),
        cached=Count("nodes", filter=Q(nodes__cached=True)),
    )
    for run in runs.iterator(chunk_size=500):
        WorkflowRun.objects.filter(pk=run.pk).update(
            nodes_total=run.total, nodes_active=run.active, nodes_succeeded=run.succeeded,
            nodes_failed=run.failed, nodes_cached=run.cached,
        )


class Migration(migrations.Migration):

    dependencies = [
        ("workflows", "0001_initial"),
    ]

    operations = [
        migrations.AddField(model_name="workflowrun", name="nodes_total", field=models.PositiveIntegerField(default=0)),
        migrations.AddField(model_name="workflowrun", name="nodes_active",
                            field=models.PositiveIntegerField(default=0, help_text="Queued or running.")),
        migrations.AddField(model_name="workflowrun", name="nodes_succeeded", field=models.PositiveIntegerField(default=0)),
        migrations.AddField(model_name="workflowrun", name="nodes_failed", field=models.PositiveIntegerField(default=0)),
        migrations.AddField(model_name="workflowrun", name="nodes_cached", field=models.PositiveIntegerField(default=0)),
        migrations.RunPython(tallies_fill, migrations.RunPython.noop),
    ]
