from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "apps.review"
    verbose_name = "Trust and review"

    def ready(self):
        from . import subscribers
        from .judges import register_builtin

        register_builtin()
        from . import workflow_nodes  # noqa: F401  (registers the review node type)
        subscribers.subscribe()
