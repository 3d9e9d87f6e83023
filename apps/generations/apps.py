from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "apps.generations"
    verbose_name = "Generations"

    def ready(self):
        # Importing workflow_nodes registers the generate node types; metrics, the /metrics collector.
        from apps.core import events

        from . import live, metrics, waiting, workflow_nodes  # noqa: F401
        from .services import costs

        # First, so a waiting request is woken before the live card is drawn and sent.
        events.subscribe(events.GenerationFinished, waiting.generation_end_notify)
        live.subscribe()
        costs.subscribe()  # the provider dollars of each finished generation
