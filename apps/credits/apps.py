from django.apps import AppConfig


class CreditsConfig(AppConfig):
    name = "apps.credits"
    verbose_name = "Credits"
