from django.apps import AppConfig


class HooksConfig(AppConfig):
    name = "apps.hooks"
    verbose_name = "Outgoing webhooks"

    def ready(self):
        from apps.core import events

        from .outbox import batch_finished, generation_finished, generation_reviewed

        # In the emitting transaction: the delivery commits with the change it reports.
        events.subscribe(events.GenerationFinished, generation_finished, in_transaction=True)
        events.subscribe(events.BatchFinished, batch_finished, in_transaction=True)
        events.subscribe(events.GenerationReviewed, generation_reviewed, in_transaction=True)
