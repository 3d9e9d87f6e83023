"""Serve the Stripe fake for the embedded demo: Checkout pages that "pay" and signed webhooks."""

import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.credits.services import credits_stripe_webhook_path
from apps.credits.stripe_fake import FakeStripe, FakeStripeServer


def _stop(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = (
        "Serve a fake Stripe API on loopback. Run Darkroom with STRIPE_FAKE_URL=http://127.0.0.1:<port> and "
        "the same environment here, so both agree on the keys and the webhook URL."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=12111)
        parser.add_argument("--webhook-url", help="Where to send signed events (default: SITE_URL + dj-stripe's path).")

    def handle(self, *args, host, port, webhook_url, **options):
        secret = settings.DJSTRIPE_WEBHOOK_SECRET
        if not secret:
            raise CommandError("Set STRIPE_FAKE_URL (or DJSTRIPE_WEBHOOK_SECRET) so events can be signed.")
        webhook_url = webhook_url or settings.SITE_URL + credits_stripe_webhook_path()
        fake = FakeStripe(
            secret_key=settings.STRIPE_SECRET_KEY or None, webhook_url=webhook_url, webhook_secret=secret,
            on_delivery=lambda d: self.stdout.write(f"webhook {d.event_type} {d.event_id} → {d.status or d.error}"),
        )
        server = FakeStripeServer(fake, host=host, port=port)
        self.stdout.write(f"Stripe fake at {server.url} — webhooks to {webhook_url}")
        signal.signal(signal.SIGTERM, _stop)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
