from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "apps.generations"
    verbose_name = "Generations"
