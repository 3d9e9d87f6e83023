"""A small fake of Stripe's HTTP API on loopback, for tests and the embedded demo.

    fake = FakeStripe(secret_key="sk_test_…", webhook_secret="whsec_…", webhook_url=None)
    server = FakeStripeServer(fake).start()      # stripe.api_base = server.url
    …
    server.stop()

`python -m devtools.stripe_fake` runs it as a process that delivers webhooks to Darkroom. See README.md.
"""

from .fake import API_VERSION, Delivery, FakeStripe, FakeStripeError, stripe_signature
from .server import FakeStripeServer, decode_params

__all__ = [
    "API_VERSION", "Delivery", "FakeStripe", "FakeStripeError", "FakeStripeServer", "decode_params",
    "stripe_signature",
]
