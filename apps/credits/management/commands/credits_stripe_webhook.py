from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.credits.services import credits_stripe_webhook_endpoint_sync


class Command(BaseCommand):
    help = "Create or update dj-stripe's webhook endpoint from DJSTRIPE_WEBHOOK_SECRET and print its URL."

    def handle(self, *args, **options):
        endpoint = credits_stripe_webhook_endpoint_sync()
        if endpoint is None:
            raise CommandError("DJSTRIPE_WEBHOOK_SECRET is not set: there is no webhook endpoint to register.")
        self.stdout.write(endpoint.url)
        if not settings.SITE_URL.startswith("https://"):
            self.stderr.write("Note: Stripe only delivers live-mode webhooks to https URLs; set SITE_URL.")
