"""The continuous provider benchmark (off unless PROVIDER_BENCHMARK_MINUTES is set): each window,
one tiny job on each configured route, timed from submit to result.

A round inserts one ProbeResult per route for the window before anything is sent: the unique
(window, route) makes a beat that fires twice (two beat processes, a restart) probe once. The
daily budget (PROVIDER_BENCHMARK_DAILY_PROBES) bounds what the probes cost. A probe's failure can
count against the route's breakers (PROVIDER_BENCHMARK_BREAKER), so a provider that went down
between jobs is found by the probe instead of a user's job."""

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.catalog.models import CatalogModel
from apps.providers import breaker, router
from apps.providers.exceptions import ProviderError
from apps.providers.registry import adapter_get, adapter_registry
from apps.providers.types import GenerationRequest, JobState, ProviderStatus, Route

from ..models import ProbeResult

logger = logging.getLogger(__name__)
PROBE_PROMPT = "a plain grey square"
PROBE_EDGE = 256
PROBE_TIMEOUT_SECONDS = 180
# Our own engine is not a provider: it is probed only when PROVIDER_BENCHMARK_ROUTES names it.
LOCAL_PROVIDERS = frozenset({"offline"})


def route_key(route: Route) -> str:
    return f"{route.provider}:{route.model}"


def benchmark_routes() -> dict[str, Route]:
    """Routes worth probing: those of enabled text-to-image models whose provider is configured,
    or the ones PROVIDER_BENCHMARK_ROUTES names."""
    wanted = set(settings.PROVIDER_BENCHMARK_ROUTES)
    routes: dict[str, Route] = {}
    for model in CatalogModel.objects.filter(is_enabled=True).order_by("sort_order", "slug"):
        if model.needs_image:
            continue
        for route in model.route_list:
            key = route_key(route)
            if wanted and key not in wanted:
                continue
            if not wanted and route.provider in LOCAL_PROVIDERS:
                continue
            if route.provider in adapter_registry and adapter_registry.get(route.provider).is_configured():
                routes.setdefault(key, route)
    return routes


def window_start(now: datetime, minutes: int) -> datetime:
    """The start of the benchmark window `now` falls in (windows are aligned to the day)."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = int((now - day).total_seconds() // 60)
    return day + timedelta(minutes=elapsed - elapsed % minutes)


def benchmark_round(*, now=None) -> list[int]:
    """Record this window's probes and send them (after commit); returns the new probes' ids."""
    minutes = settings.PROVIDER_BENCHMARK_MINUTES
    if minutes <= 0:
        return []
    now = now or timezone.now()
    window = window_start(now, minutes)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    budget = settings.PROVIDER_BENCHMARK_DAILY_PROBES - ProbeResult.objects.filter(window_start__gte=today).count()
    created = []
    for key, route in benchmark_routes().items():
        if len(created) >= budget:
            logger.warning("provider benchmark: daily probe budget spent", extra={"budget": budget})
            break
        try:
            with transaction.atomic():
                probe = ProbeResult.objects.create(window_start=window, route=key, provider=route.provider)
        except IntegrityError:
            continue  # this window's probe of this route exists: the beat fired twice
        created.append(probe.pk)
    if created:
        from ..tasks import probe_run_task

        transaction.on_commit(lambda: [probe_run_task.delay(probe_id=pk) for pk in created])
    return created


def _send(route: Route, request: GenerationRequest) -> ProviderStatus:
    adapter = adapter_get(route.provider)
    if adapter.blocking:
        return adapter.run(request, on_progress=lambda status: None, is_canceled=lambda: False)
    status = adapter.submit(request)
    deadline = time.monotonic() + PROBE_TIMEOUT_SECONDS
    while not status.state.is_terminal:
        if time.monotonic() > deadline:
            router.job_cancel(route.provider, status.provider_job_id)
            return ProviderStatus(JobState.FAILED, provider_job_id=status.provider_job_id, error_code="timeout")
        time.sleep(settings.PROVIDER_POLL_INTERVAL)
        status = adapter.poll(status.provider_job_id)
    return status


def probe_run(*, probe_id: int) -> ProbeResult | None:
    """Send one probe and record how it went, once (a probe already recorded is left alone)."""
    probe = ProbeResult.objects.filter(pk=probe_id, ok__isnull=True).first()
    route = benchmark_routes().get(probe.route) if probe else None
    if probe is None:
        return None
    if route is None:  # the route was removed or unconfigured since the round
        ProbeResult.objects.filter(pk=probe_id, ok__isnull=True).update(ok=False, error_class="route_gone")
        return ProbeResult.objects.get(pk=probe_id)
    base = GenerationRequest(job_id=f"probe-{probe.pk}", provider_model=route.model, prompt=PROBE_PROMPT,
                             width=PROBE_EDGE, height=PROBE_EDGE, aspect_ratio="1:1", seed="1")
    request, _ = router.route_request(base, route)
    request = GenerationRequest(**{**request.__dict__, "webhook_url": None})  # followed by polling alone
    started = time.monotonic()
    try:
        status = _send(route, request)
        ok = status.state == JobState.SUCCEEDED
        error_class = "" if ok else (status.error_code or str(status.state))
    except ProviderError as error:
        ok, error_class = False, error.code
    latency_ms = round((time.monotonic() - started) * 1000)
    if not ProbeResult.objects.filter(pk=probe_id, ok__isnull=True).update(
            ok=ok, error_class=error_class[:50], latency_ms=latency_ms):
        return ProbeResult.objects.get(pk=probe_id)
    if settings.PROVIDER_BENCHMARK_BREAKER:
        if ok:
            breaker.breakers_record_success(route.breaker_keys)
        else:
            for key in route.breaker_keys:
                breaker.breaker_record_failure(key)
    return ProbeResult.objects.get(pk=probe_id)
