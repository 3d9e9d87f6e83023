from django.core.management.base import BaseCommand

from apps.workflows.starters import starters_load


class Command(BaseCommand):
    help = "Load the starter workflows from apps/workflows/starters.toml into the database (migrate does too)."

    def handle(self, *args, **options):
        created, updated = starters_load()
        self.stdout.write(f"Starter workflows loaded: {created} new, {updated} updated.")
