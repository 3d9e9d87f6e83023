"""dj-stripe under a name staff recognise in the admin ("Stripe records"), and nothing else changed."""

from djstripe.apps import DjstripeAppConfig


class StripeRecordsConfig(DjstripeAppConfig):
    verbose_name = "Stripe records"
