from django.apps import AppConfig
from django.core.signals import setting_changed
from django.db.models.signals import post_migrate


def _stripe_setting_changed(*, setting, **kwargs):
    if setting == "STRIPE_API_BASE":
        from .stripe_api import stripe_configure

        stripe_configure()


def _sync_webhook_endpoint(*, using="default", **kwargs):
    from .services import credits_stripe_webhook_endpoint_sync

    credits_stripe_webhook_endpoint_sync(using=using)


class CreditsConfig(AppConfig):
    name = "apps.credits"
    verbose_name = "Credits"

    def ready(self):
        from . import webhooks  # noqa: F401  (connects the dj-stripe event receivers)
        from .stripe_api import stripe_configure

        stripe_configure()
        setting_changed.connect(_stripe_setting_changed, dispatch_uid="credits.stripe_api_base")
        # After the djstripe app's tables exist: keep its webhook endpoint row in step with the secret.
        post_migrate.connect(_sync_webhook_endpoint, sender=self, dispatch_uid="credits.webhook_endpoint")
