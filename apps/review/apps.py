from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "apps.review"
    verbose_name = "Trust and review"

    def ready(self):
        from . import subscribers
        from .judges import register_builtin

        register_builtin()
        subscribers.subscribe()
