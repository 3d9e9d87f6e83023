from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _load_starters(*, using="default", **kwargs):
    from .starters import starters_load

    starters_load(using=using)


class WorkflowsConfig(AppConfig):
    name = "apps.workflows"
    verbose_name = "Workflows"

    def ready(self):
        from . import nodes  # noqa: F401  (registers the engine's own node types)

        # Starter workflows are upserted after every migrate, as `workflow_starters_load` does.
        post_migrate.connect(_load_starters, sender=self, dispatch_uid="workflows.starters")
