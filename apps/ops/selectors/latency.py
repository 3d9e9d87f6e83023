"""Time to result and phase timings, per provider and per model, from the stored job samples."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.db.models.functions import TruncMinute
from django.utils import timezone
from redis.exceptions import RedisError

from apps.generations.metrics import PHASE_SPANS
from apps.generations.models import Status

from ..models import JobSample
from .stats import QUANTILES, bucket_index, grouped_percentiles, percentile

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
DEFAULT_WINDOW = "1h"
PHASES = tuple(PHASE_SPANS)
TIMING_FIELDS = ("total_seconds", *(f"{name}_seconds" for name in PHASES))
FAILED = (Status.FAILED, Status.REJECTED)
UNROUTED = "(not routed)"


@dataclass(frozen=True)
class ModelLatency:
    """A model's learned time to result (submit → done), in seconds, and how many successes it is from."""

    p50: float
    p95: float
    samples: int
    learned: bool


def window_since(window: str, *, now=None):
    return (now or timezone.now()) - WINDOWS.get(window, WINDOWS[DEFAULT_WINDOW])


def latency_table(*, group: str, since) -> list[dict]:
    """One row per provider (group="provider") or model (group="model"): jobs ended since `since`,
    how many succeeded and failed, the failures by error class, and P50/P95/P99 of the time to result
    and of each phase over the successes. Slowest P95 first."""
    ended = JobSample.objects.filter(finished_at__gte=since)
    counts = ended.order_by().values(group).annotate(
        jobs=Count("id"), succeeded=Count("id", filter=Q(status=Status.SUCCEEDED)),
        failed=Count("id", filter=Q(status__in=FAILED)), canceled=Count("id", filter=Q(status=Status.CANCELED)),
    )
    timings = grouped_percentiles(ended.filter(status=Status.SUCCEEDED), group=group, fields=TIMING_FIELDS)
    failures: dict[str, list[tuple[str, int]]] = {}
    for row in (ended.filter(status__in=FAILED).order_by().values(group, "error_code").annotate(n=Count("id"))
                .order_by("-n")):
        failures.setdefault(row[group], []).append((row["error_code"] or "unknown", row["n"]))
    rows = []
    for row in counts:
        key = row[group]
        quantiles = timings.get(key, {})
        done = row["succeeded"] + row["failed"]
        rows.append({
            "key": key or UNROUTED, "jobs": row["jobs"], "succeeded": row["succeeded"], "failed": row["failed"],
            "canceled": row["canceled"],
            "success_rate": row["succeeded"] / done if done else None,
            "total": quantiles.get("total_seconds", dict.fromkeys(QUANTILES)),
            "phases": {name: quantiles.get(f"{name}_seconds", dict.fromkeys(QUANTILES)) for name in PHASES},
            "failures": failures.get(key, []),
        })
    return sorted(rows, key=lambda r: (-(r["total"].get(0.95) or 0), r["key"]))


def throughput(*, since, now=None) -> dict:
    """Jobs ended per clock minute (oldest first, the current minute last) and the success rate
    since `since`."""
    now = now or timezone.now()
    width = timedelta(minutes=1)
    buckets = max(1, round((now - since) / width))
    series = [0] * buckets
    failed = [0] * buckets
    per_minute = (JobSample.objects.filter(finished_at__gte=since, finished_at__lte=now)
                  .annotate(minute=TruncMinute("finished_at")).order_by().values("minute")
                  .annotate(n=Count("id"), bad=Count("id", filter=Q(status__in=FAILED))))
    last = now.replace(second=0, microsecond=0)
    for row in per_minute:
        index = bucket_index(row["minute"], last=last, width=width, buckets=buckets)
        if index is not None:
            series[index] += row["n"]
            failed[index] += row["bad"]
    ended = sum(series)
    bad = sum(failed)
    return {"per_bucket": series, "failed_per_bucket": failed, "bucket_seconds": width.total_seconds(),
            "ended": ended, "failed": bad, "per_minute": ended / max((now - since).total_seconds() / 60, 1e-9),
            "success_rate": (ended - bad) / ended if ended else None}


def failing_jobs(*, since, limit: int = 25) -> list[JobSample]:
    """The failed jobs since `since`, newest first, with their error class."""
    return list(JobSample.objects.filter(finished_at__gte=since, status__in=FAILED).order_by("-finished_at")[:limit])


def _learned(model_slug: str) -> tuple[float, float, int] | None:
    since = timezone.now() - timedelta(days=settings.PROGRESS_LEARNING_DAYS)
    recent = list(JobSample.objects.filter(model=model_slug, status=Status.SUCCEEDED, finished_at__gte=since)
                  .order_by("-finished_at").values_list("total_seconds", flat=True)[:settings.PROGRESS_LEARNING_SAMPLES])
    if len(recent) < settings.PROGRESS_LEARNING_MIN_SAMPLES:
        return None
    return percentile(recent, 0.5), percentile(recent, 0.95), len(recent)


def model_time_to_result(*, model_slug: str, typical_seconds: float) -> ModelLatency:
    """The model's P50 and P95 time to result, learned from its recent successes (cached for
    PROGRESS_LEARNING_CACHE_SECONDS); with too few of them, the catalogue's typical time (P95 taken
    as twice it)."""
    key = f"ops:time-to-result:{model_slug}"
    try:
        learned = cache.get(key)
    except RedisError:
        learned = None
    if learned is None:
        learned = _learned(model_slug) or ()
        try:
            cache.set(key, learned, timeout=settings.PROGRESS_LEARNING_CACHE_SECONDS)
        except RedisError:
            pass
    if learned:
        p50, p95, n = learned
        return ModelLatency(p50=p50, p95=max(p95, p50), samples=n, learned=True)
    typical = float(max(typical_seconds, 1))
    return ModelLatency(p50=typical, p95=2 * typical, samples=0, learned=False)
