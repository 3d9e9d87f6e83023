from django.core.management.base import BaseCommand

from apps.ops.services.samples import job_samples_backfill


class Command(BaseCommand):
    help = "Job samples for generations that ended before the ops app recorded them (the dashboard's history)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=7, help="How far back (default 7 days).")

    def handle(self, *args, days: int, **options):
        added = job_samples_backfill(days=days)
        self.stdout.write(f"{added} job sample(s) added")
