"""What a generation delivered and was charged: fewer images than asked are charged for what came.
Generations that succeeded before were charged their whole quote for all their images."""

from django.db import migrations, models
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce


def backfill(apps, schema_editor):
    Generation = apps.get_model("generations", "Generation")
    GenerationImage = apps.get_model("generations", "GenerationImage")
    images = (
        GenerationImage.objects.filter(generation=OuterRef("pk")).order_by().values("generation")
        .annotate(n=Count("pk")).values("n")
    )
    Generation.objects.filter(status="succeeded").update(
        charged_credits=F("quoted_credits"), images_delivered=Coalesce(Subquery(images[:1]), 0)
    )


class Migration(migrations.Migration):
    dependencies = [("generations", "0008_generation_lost_answers_generation_route_attempts")]

    operations = [
        migrations.AddField(
            model_name="generation", name="images_delivered", field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="generation", name="charged_credits", field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
