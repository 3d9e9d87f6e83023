from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "apps.ops"
    verbose_name = "Operations"

    def ready(self):
        from apps.core import events

        from .services.samples import job_sample_on_finished

        # Every ended generation leaves one timing sample (the dashboard's and the progress curve's data).
        events.subscribe(events.GenerationFinished, job_sample_on_finished)
        # Generation ids on log lines (always) and OpenTelemetry traces (when an OTLP endpoint is set).
        from .tracing import tracing_setup

        tracing_setup()
