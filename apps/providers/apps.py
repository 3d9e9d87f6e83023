from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "apps.providers"
    verbose_name = "Providers"

    def ready(self):
        # Adapters register themselves on import.
        from .adapters import comfyui, fal, offline, openai, replicate, stability  # noqa: F401
