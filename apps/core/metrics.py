"""`GET /metrics`: Prometheus text exposition for operators.

Apps register collectors (`metrics_collectors.register("generations")(fn)`); each returns lines of
the text format. The endpoint takes the `METRICS_TOKEN` bearer (for a scraper) or a staff session
(for a person in the admin); anyone else gets 401 and nothing about what is inside.
"""

import hmac
import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from .registry import Registry

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
metrics_collectors: Registry[Callable[[], Iterable[str]]] = Registry("metrics collector")


def _authorized(request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode())
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


def summary_lines(name: str, help_text: str, series: Iterable[tuple[dict, list[float]]],
                  quantiles=(0.5, 0.95, 0.99)) -> list[str]:
    """A Prometheus summary per label set: quantiles (nearest rank), _sum and _count."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} summary"]
    for labels, values in series:
        ordered = sorted(values)
        for q in quantiles:
            value = ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))] if ordered else float("nan")
            lines.append(f"{name}{{{label_text({**labels, 'quantile': str(q)})}}} {value:.6g}")
        lines.append(f"{name}_sum{{{label_text(labels)}}} {sum(ordered):.6g}")
        lines.append(f"{name}_count{{{label_text(labels)}}} {len(ordered)}")
    return lines


def label_text(labels: dict) -> str:
    def escape(value) -> str:
        return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return ",".join(f'{key}="{escape(value)}"' for key, value in labels.items())


@require_GET
def metrics_view(request):
    if not _authorized(request):
        response = HttpResponse("Authentication required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    lines: list[str] = []
    for key in metrics_collectors:
        try:
            lines += metrics_collectors.get(key)()
        except Exception:
            # One broken collector must not blank the others.
            logger.exception("metrics collector failed", extra={"collector": key})
            lines.append(f"# collector {key} failed")
    response = HttpResponse("\n".join(lines) + "\n", content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response
