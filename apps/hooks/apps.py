from django.apps import AppConfig


class HooksConfig(AppConfig):
    name = "apps.hooks"
    verbose_name = "Outgoing webhooks"

    def ready(self):
        from apps.realtime.publish import event_listeners

        from .payloads import generation_payload
        from .services import payload_builders, webhooks_on_event

        event_listeners.append(webhooks_on_event)
        payload_builders["generation"] = generation_payload
