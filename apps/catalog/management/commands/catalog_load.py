from django.core.management.base import BaseCommand

from apps.catalog import services


class Command(BaseCommand):
    help = "Load the model catalogue from apps/catalog/catalog.toml into the database."

    def handle(self, *args, **options):
        created, updated = services.catalog_load()
        self.stdout.write(f"Catalogue loaded: {created} new, {updated} updated.")
