from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _load_starters(*, using="default", **kwargs):
    from .starters import starters_load

    starters_load(using=using)


def _generation_finished(event) -> None:
    from .services import node_generation_ended

    node_generation_ended(generation_id=event.generation_id)


class WorkflowsConfig(AppConfig):
    name = "apps.workflows"
    verbose_name = "Workflows"

    def ready(self):
        from apps.core import events

        from . import nodes  # noqa: F401  (registers the engine's own node types)
        from .live import run_publish

        # Starter workflows are upserted after every migrate, as `workflow_starters_load` does.
        post_migrate.connect(_load_starters, sender=self, dispatch_uid="workflows.starters")
        # A generate step ends as soon as its generation does (polling stays as a slower safety net).
        events.subscribe(events.GenerationFinished, _generation_finished)
        # Run changes reach the owner's browsers and API clients.
        events.subscribe(events.RunNodesChanged, run_publish)
        events.subscribe(events.RunFinished, run_publish)
