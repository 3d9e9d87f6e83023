from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "apps.realtime"
    verbose_name = "Live updates"

    def ready(self):
        from . import sessions

        sessions.connect()
