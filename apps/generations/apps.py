from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "apps.generations"
    verbose_name = "Generations"

    def ready(self):
        # Importing workflow_nodes registers the generate node types; metrics, the /metrics collector.
        from . import live, metrics, workflow_nodes  # noqa: F401
        from .services import costs

        live.subscribe()
        costs.subscribe()  # the provider dollars of each finished generation
