"""A generation that delivered fewer images than asked is settled by a capture (what was delivered)
and a release (the rest): one of each per generation, instead of one settlement of either kind."""

from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    dependencies = [("credits", "0003_ledger_append_only")]

    operations = [
        migrations.RemoveConstraint(model_name="ledgerentry", name="ledger_one_settlement_per_generation"),
        migrations.AddConstraint(
            model_name="ledgerentry",
            constraint=models.UniqueConstraint(
                condition=Q(kind="capture"), fields=("generation",), name="ledger_one_capture_per_generation"
            ),
        ),
        migrations.AddConstraint(
            model_name="ledgerentry",
            constraint=models.UniqueConstraint(
                condition=Q(kind="release"), fields=("generation",), name="ledger_one_release_per_generation"
            ),
        ),
    ]
