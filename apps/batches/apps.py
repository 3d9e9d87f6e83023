from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "apps.batches"
    verbose_name = "Batches"

    def ready(self):
        from apps.core import events

        from .live import batch_publish
        from .services import batch_generation_finished

        events.subscribe(events.GenerationFinished, batch_generation_finished)
        events.subscribe(events.BatchProgressed, batch_publish)
        events.subscribe(events.BatchFinished, batch_publish)
        from apps.core.body_limit import file_routes_add

        file_routes_add("batches:batches")  # the CSV file
