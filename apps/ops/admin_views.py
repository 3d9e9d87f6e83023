"""The operations dashboard (the admin's first page), its self-refreshing fragment and the
provider reliability page. Staff only: the admin site wraps each view in `admin_view`."""

import logging

from django.conf import settings
from django.core.cache import cache
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from redis.exceptions import RedisError

from . import charts
from .selectors import dashboard, latency, probes

logger = logging.getLogger(__name__)
REFRESH_SECONDS = 15
TABLE_CACHE_SECONDS = 60


def _window(request) -> str:
    window = request.GET.get("window", latency.DEFAULT_WINDOW)
    return window if window in latency.WINDOWS else latency.DEFAULT_WINDOW


def _queue_depths():
    try:
        return dashboard.queue_depths()
    except Exception as error:  # the broker being down is itself what the dashboard should say
        logger.warning("queue depths unavailable", exc_info=True)
        return {"error": type(error).__name__}


def _cached_table(group: str, window: str, since) -> list[dict]:
    """The 24 h and 7 d tables read the most rows and move slowly: every staff page and every
    refresh within a minute share one computation."""
    if window == latency.DEFAULT_WINDOW:
        return latency.latency_table(group=group, since=since)
    key = f"ops:latency-table:{group}:{window}"
    try:
        rows = cache.get(key)
    except RedisError:
        rows = None
    if rows is None:
        rows = latency.latency_table(group=group, since=since)
        try:
            cache.set(key, rows, timeout=TABLE_CACHE_SECONDS)
        except RedisError:
            pass
    return rows


def dashboard_context(request) -> dict:
    now = timezone.now()
    window = _window(request)
    since = latency.window_since(window, now=now)
    hour = latency.throughput(since=latency.window_since("1h", now=now), now=now)
    providers = dashboard.providers_now(now=now)
    for row in providers:
        row["history_chart"] = charts.sparkline(row["calls_per_hour"], danger=row["errors_per_hour"],
                                                label=f"{row['provider']}: calls and errors per hour, last 24 h")
    by_provider = _cached_table("provider", window, since)
    by_model = _cached_table("model", window, since)
    for row in by_provider + by_model:
        row["success_chart"] = charts.meter(row["success_rate"])
    return {
        "ops": {
            "now": now, "window": window, "windows": list(latency.WINDOWS), "refresh_seconds": REFRESH_SECONDS,
            "queues": _queue_depths(), "active": dashboard.active_generations(),
            "hour": hour,
            "hour_chart": charts.sparkline(hour["per_bucket"], danger=hour["failed_per_bucket"], width=360, height=48,
                                           label="Generations ended per minute (failures in red), last hour"),
            "providers": providers,
            "breaker_history": dashboard.breaker_history(since=latency.window_since("24h", now=now)),
            "by_provider": by_provider, "by_model": by_model, "phases": latency.PHASES,
            "money": dashboard.money_today(now=now),
            "failing": latency.failing_jobs(since=latency.window_since("1h", now=now)),
            "probes_enabled": probes.benchmark_enabled(),
        },
    }


@never_cache
def dashboard_fragment_view(request):
    """The dashboard's body alone: the page polls it every REFRESH_SECONDS."""
    return TemplateResponse(request, "admin/ops/_dashboard.html", dashboard_context(request))


@never_cache
def reliability_view(request):
    from django.contrib import admin

    context = {
        **admin.site.each_context(request), "title": "Provider reliability",
        "reliability": probes.reliability(), "windows": list(probes.RELIABILITY_WINDOWS),
        "benchmark_minutes": settings.PROVIDER_BENCHMARK_MINUTES, "daily_probes": settings.PROVIDER_BENCHMARK_DAILY_PROBES,
    }
    return TemplateResponse(request, "admin/ops/reliability.html", context)
