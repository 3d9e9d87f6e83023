from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "apps.batches"
    verbose_name = "Batches"

    def ready(self):
        from apps.hooks.services import payload_builders
        from apps.realtime.publish import event_listeners

        from .services import batch_on_event, batch_payload

        event_listeners.insert(0, batch_on_event)  # before webhooks, so batch.finished follows its last item
        payload_builders["batch"] = batch_payload
