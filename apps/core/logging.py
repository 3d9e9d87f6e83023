import json
import logging
from contextvars import ContextVar, Token
from datetime import UTC, datetime

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# What every log line of the current request or task carries: request_id, user_id, generation_id.
_context: ContextVar[dict] = ContextVar("darkroom_log_context", default={})  # noqa: B039 (never mutated)


def log_context() -> dict:
    return _context.get()


def log_context_bind(**fields) -> Token:
    """Add fields (None leaves one out) to every log line from here until `log_context_reset`."""
    return _context.set({**_context.get(), **{key: value for key, value in fields.items() if value is not None}})


def log_context_reset(token: Token) -> None:
    _context.reset(token)


def _trace_ids() -> dict:
    """The current OpenTelemetry trace and span ids, when tracing is on and a span is recording."""
    try:
        from opentelemetry import trace
    except ImportError:
        return {}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: the request's or task's context (request id, user id, generation
    id, trace ids) and any `extra=` fields kept as keys."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(_context.get())
        payload.update(_trace_ids())
        payload.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)
