from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "apps.ops"
    verbose_name = "Operations"

    def ready(self):
        from apps.core import events

        from .services.samples import job_sample_on_finished

        # Every ended generation leaves one timing sample (the dashboard's and the progress curve's data).
        events.subscribe(events.GenerationFinished, job_sample_on_finished)
        # Breaker history: every state change the providers' breakers report.
        from apps.providers import breaker

        from .services.breakers import breaker_transition_record

        if breaker_transition_record not in breaker.transition_listeners:
            breaker.transition_listeners.append(breaker_transition_record)
        # Generation ids on log lines (always) and OpenTelemetry traces (when an OTLP endpoint is set).
        from .tracing import tracing_setup

        tracing_setup()
