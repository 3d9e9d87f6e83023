"""What the operations dashboard shows right now: queues, live jobs, providers, breakers, money."""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, Q
from django.db.models.functions import TruncHour, TruncMinute
from django.utils import timezone
from redis.exceptions import RedisError

from apps.credits.models import DailySpend
from apps.credits.selectors import costs_totals, credits_spend_today
from apps.generations.models import ACTIVE, Generation
from apps.providers.models import CircuitBreaker, ProviderCall

from ..models import BreakerTransition
from .stats import QUANTILES, bucket_index, grouped_percentiles

# kombu's Redis transport keeps a queue's priorities in separate lists: "<queue>" and "<queue>\x06\x16<n>".
PRIORITY_STEPS = (0, 3, 6, 9)
PRIORITY_SEPARATOR = "\x06\x16"
FAILING_ERROR_RATE = 0.5
SLOW_FACTOR = 2.0
BASELINE_CACHE_SECONDS = 60
CALL_ERRORS = (ProviderCall.Outcome.RETRYABLE, ProviderCall.Outcome.ANSWER_LOST)


def queue_names() -> list[str]:
    names = {settings.CELERY_TASK_DEFAULT_QUEUE}
    names.update(route["queue"] for route in settings.CELERY_TASK_ROUTES.values() if "queue" in route)
    return sorted(names)


def queue_depths() -> dict[str, int] | None:
    """Messages waiting in each Celery queue (Redis broker); None in the embedded mode."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        with client.pipeline(transaction=False) as pipe:
            names = queue_names()
            for name in names:
                for step in PRIORITY_STEPS:
                    pipe.llen(name if not step else f"{name}{PRIORITY_SEPARATOR}{step}")
            lengths = pipe.execute()
    finally:
        client.close()
    steps = len(PRIORITY_STEPS)
    return {name: sum(lengths[i * steps:(i + 1) * steps]) for i, name in enumerate(names)}


def active_generations() -> dict[str, int]:
    counts = dict(Generation.objects.filter(status__in=ACTIVE).order_by().values_list("status").annotate(n=Count("id")))
    return {status: counts.get(status, 0) for status in ACTIVE}


def provider_calls(*, since, now=None, buckets: int = 24, quantiles=QUANTILES, trunc=TruncMinute) -> dict[str, dict]:
    """Per provider: calls since `since`, errors by outcome, call latency quantiles and the calls and
    errors per bucket (oldest first) for a history sparkline, counted in the database per `trunc`."""
    now = now or timezone.now()
    calls = ProviderCall.objects.filter(created_at__gte=since)
    out: dict[str, dict] = {}
    for row in calls.order_by().values("provider").annotate(
            calls=Count("id"), errors=Count("id", filter=Q(outcome__in=CALL_ERRORS))):
        out[row["provider"]] = {**row, "outcomes": {}, "latency_ms": {}, "errors_per_bucket": [0] * buckets,
                                "calls_per_bucket": [0] * buckets}
    for row in calls.exclude(outcome=ProviderCall.Outcome.OK).order_by().values("provider", "outcome").annotate(
            n=Count("id")):
        out[row["provider"]]["outcomes"][row["outcome"]] = row["n"]
    for provider, values in grouped_percentiles(calls, group="provider", fields=["latency_ms"],
                                                quantiles=quantiles).items():
        out[provider]["latency_ms"] = values["latency_ms"]
    # Counted in the database per clock minute or hour (`trunc`), the current one last.
    width = timedelta(hours=1) if trunc is TruncHour else timedelta(minutes=1)
    last = now.replace(minute=0 if trunc is TruncHour else now.minute, second=0, microsecond=0)
    per_unit = (calls.annotate(unit=trunc("created_at")).order_by().values("provider", "unit")
                .annotate(n=Count("id"), bad=Count("id", filter=Q(outcome__in=CALL_ERRORS))))
    for row in per_unit:
        index = bucket_index(row["unit"], last=last, width=width, buckets=buckets)
        if index is not None:
            out[row["provider"]]["calls_per_bucket"][index] += row["n"]
            out[row["provider"]]["errors_per_bucket"][index] += row["bad"]
    return out


def breakers() -> dict[str, dict]:
    """Breakers by provider: the provider's own row and its models' rows that are not closed or
    failing (a healthy model adds nothing the provider row doesn't say)."""
    grouped: dict[str, dict] = defaultdict(lambda: {"provider": None, "models": []})
    for row in CircuitBreaker.objects.order_by("key"):
        provider, _, model = row.key.partition(":")
        if not model:
            grouped[provider]["provider"] = row
        elif row.state != CircuitBreaker.State.CLOSED or row.consecutive_failures or row.refused_at:
            grouped[provider]["models"].append(row)
    return dict(grouped)


def _day_baseline(now) -> dict[str, dict]:
    """The last 24 hours of calls: the median only, counted per hour, and shared for a minute by
    every dashboard refresh (it is the largest read here, and moves slowly)."""
    key = "ops:provider-calls-24h"
    try:
        day = cache.get(key)
    except RedisError:
        day = None
    if day is None:
        day = provider_calls(since=now - timedelta(hours=24), now=now, buckets=24, quantiles=(0.5,), trunc=TruncHour)
        try:
            cache.set(key, day, timeout=BASELINE_CACHE_SECONDS)
        except RedisError:
            pass
    return day


def providers_now(*, now=None) -> list[dict]:
    """Which provider is slow or failing right now, from the last 15 minutes of calls and the
    breaker: failing (breaker not closed, or half the calls erred), slow (median call latency over
    twice the last 24 hours'), degraded (a model's breaker open), ok or idle. Worst first."""
    now = now or timezone.now()
    recent = provider_calls(since=now - timedelta(minutes=15), now=now, buckets=15)
    day = _day_baseline(now)
    states = breakers()
    rows = []
    for provider in sorted(set(recent) | set(day) | set(states)):
        now_calls = recent.get(provider, {})
        base = day.get(provider, {})
        breaker = states.get(provider, {}).get("provider")
        calls, errors = now_calls.get("calls", 0), now_calls.get("errors", 0)
        error_rate = errors / calls if calls else None
        p50_now = (now_calls.get("latency_ms") or {}).get(0.5)
        p95_now = (now_calls.get("latency_ms") or {}).get(0.95)
        p50_day = (base.get("latency_ms") or {}).get(0.5)
        open_models = [m for m in states.get(provider, {}).get("models", []) if m.state != CircuitBreaker.State.CLOSED]
        if breaker is not None and breaker.refused_at:
            verdict = "credentials refused"
        elif (breaker is not None and breaker.state != CircuitBreaker.State.CLOSED) or (
                error_rate is not None and error_rate >= FAILING_ERROR_RATE):
            verdict = "failing"
        elif p50_now and p50_day and p50_now > SLOW_FACTOR * p50_day:
            verdict = "slow"
        elif open_models:
            verdict = "degraded"
        elif not calls:
            verdict = "idle"
        else:
            verdict = "ok"
        rows.append({
            "provider": provider, "verdict": verdict, "calls": calls, "errors": errors, "error_rate": error_rate,
            "outcomes": now_calls.get("outcomes", {}), "p50_ms": p50_now, "p95_ms": p95_now, "p50_ms_24h": p50_day,
            "state": breaker.state if breaker else CircuitBreaker.State.CLOSED, "breaker": breaker,
            "open_models": open_models, "errors_per_hour": base.get("errors_per_bucket", [0] * 24),
            "calls_per_hour": base.get("calls_per_bucket", [0] * 24),
        })
    order = {"credentials refused": 0, "failing": 1, "slow": 2, "degraded": 3, "ok": 4, "idle": 5}
    return sorted(rows, key=lambda r: (order[r["verdict"]], r["provider"]))


def breaker_history(*, since, limit: int = 30) -> list[BreakerTransition]:
    """Breaker state changes since `since`, newest first."""
    return list(BreakerTransition.objects.filter(at__gte=since).order_by("-at", "-pk")[:limit])


def money_today(*, now=None, top: int = 10) -> dict:
    """Credits spent (held or charged) today, everyone and the top spenders; what today's
    generations cost at the providers in dollars, and the margin (credits charged at
    CREDIT_VALUE_USD minus provider dollars)."""
    now = now or timezone.now()
    today = now.date()
    spenders = list(DailySpend.objects.filter(day=today, user__isnull=False, spent__gt=0).order_by("-spent", "user_id")
                    .values_list("user_id", "spent")[:top])
    emails = dict(get_user_model().objects.filter(pk__in=[uid for uid, _ in spenders]).values_list("pk", "email"))
    return {
        "day": today,
        "credits_spent": credits_spend_today(day=today),
        "top_spenders": [{"user_id": uid, "email": emails.get(uid, "?"), "credits": spent} for uid, spent in spenders],
        "dollars": costs_totals(since=now.replace(hour=0, minute=0, second=0, microsecond=0)),
    }
