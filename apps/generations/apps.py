from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "apps.generations"
    verbose_name = "Generations"

    def ready(self):
        from . import workflow_nodes  # noqa: F401  (registers the generate workflow node types)
        from . import metrics  # noqa: F401  (registers the /metrics collector)
