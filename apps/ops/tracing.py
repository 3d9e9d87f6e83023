"""OpenTelemetry traces across web → Celery → provider HTTP calls, sent over OTLP/HTTP when
OTEL_EXPORTER_OTLP_ENDPOINT is set (off otherwise: nothing is imported).

The standard instrumentations do the work: Django (each request), Celery (publish and run, the
trace context travelling in the message headers), psycopg (each query) and httpx (each provider
call, each download). Every span started while a generation is being handled carries its id
(`darkroom.generation_id`), and so does every log line (apps.core.logging): a task's comes from its
`generation_id` argument, a request's from the first generation task it sends.
"""

import logging

from celery import signals
from django.conf import settings

from apps.core.logging import log_context, log_context_bind, log_context_reset

logger = logging.getLogger(__name__)
GENERATION_ATTRIBUTE = "darkroom.generation_id"
_state = {"on": False}
_task_tokens: dict[str, object] = {}


def _current_span():
    if not _state["on"]:
        return None
    from opentelemetry import trace

    span = trace.get_current_span()
    return span if span.is_recording() else None


def _generation_from(kwargs) -> str | None:
    value = (kwargs or {}).get("generation_id")
    return str(value) if value else None


@signals.before_task_publish.connect(weak=False)
def _on_publish(sender=None, body=None, **_):
    """A request (or task) sending work for a generation: its spans and logs name it from here on."""
    kwargs = body[1] if isinstance(body, tuple | list) and len(body) > 1 else {}
    generation_id = _generation_from(kwargs)
    if generation_id and log_context().get("generation_id") != generation_id:
        log_context_bind(generation_id=generation_id)  # reset with the request's or task's context
    if generation_id and (span := _current_span()) is not None:
        span.set_attribute(GENERATION_ATTRIBUTE, generation_id)


@signals.task_prerun.connect(weak=False)
def _on_task_start(task_id=None, kwargs=None, **_):
    generation_id = _generation_from(kwargs)
    if generation_id:
        _task_tokens[task_id] = log_context_bind(generation_id=generation_id)
        if (span := _current_span()) is not None:
            span.set_attribute(GENERATION_ATTRIBUTE, generation_id)


@signals.task_postrun.connect(weak=False)
def _on_task_end(task_id=None, **_):
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            log_context_reset(token)
        except ValueError:  # set in another context (a thread pool's): nothing to undo here
            pass


def _django_response_hook(span, request, response):
    generation_id = log_context().get("generation_id")
    if generation_id and span.is_recording():
        span.set_attribute(GENERATION_ATTRIBUTE, generation_id)


def tracing_setup() -> bool:
    """Install the tracer provider and the instrumentations, once per process."""
    endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT
    if not endpoint or _state["on"]:
        return _state["on"]
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    class GenerationSpanProcessor(SpanProcessor):
        """Stamps the generation being handled on every span that starts meanwhile."""

        def on_start(self, span, parent_context=None):
            if generation_id := log_context().get("generation_id"):
                span.set_attribute(GENERATION_ATTRIBUTE, generation_id)

    provider = TracerProvider(resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME}))
    provider.add_span_processor(GenerationSpanProcessor())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
    trace.set_tracer_provider(provider)
    _state["on"] = True
    DjangoInstrumentor().instrument(response_hook=_django_response_hook)
    CeleryInstrumentor().instrument()
    PsycopgInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()
    logger.info("tracing on: spans go to the OTLP endpoint", extra={"service": settings.OTEL_SERVICE_NAME})
    return True
