"""The continuous provider benchmark's results: success rate and latency per provider."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from ..models import ProbeResult
from .stats import QUANTILES, grouped_percentiles

RELIABILITY_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}


def benchmark_enabled() -> bool:
    return settings.PROVIDER_BENCHMARK_MINUTES > 0


def reliability(*, now=None) -> list[dict]:
    """Per provider, for each window: probes run, their success rate and P50/P95/P99 latency (ms)."""
    now = now or timezone.now()
    providers: dict[str, dict] = {}
    for window, span in RELIABILITY_WINDOWS.items():
        finished = ProbeResult.objects.filter(window_start__gte=now - span, ok__isnull=False)
        latencies = grouped_percentiles(finished.filter(ok=True), group="provider", fields=["latency_ms"])
        for row in finished.order_by().values("provider").annotate(n=Count("id"), ok_n=Count("id", filter=Q(ok=True))):
            entry = providers.setdefault(row["provider"], {"provider": row["provider"], "windows": {}})
            entry["windows"][window] = {
                "probes": row["n"], "ok": row["ok_n"], "success_rate": row["ok_n"] / row["n"] if row["n"] else None,
                "latency_ms": latencies.get(row["provider"], {}).get("latency_ms", dict.fromkeys(QUANTILES)),
            }
    return [providers[name] for name in sorted(providers)]

