"""Generation metrics for `/metrics` and the admin: counts by status and the phase timings.

`Generation.timings` holds seconds since creation for queued, dispatched, provider_start,
provider_end, derivatives_done, outputs_stored and event_published, plus `overhead`: submit →
final event minus the provider's own reported time. Spans between phases are what we watch.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from apps.core.metrics import label_text, metrics_collectors, summary_lines

from .models import ACTIVE, Generation, Status

# span name → (from phase, to phase), in the order a job goes through them.
PHASE_SPANS = {
    "dispatch": ("queued", "dispatched"),
    "to_provider": ("dispatched", "provider_start"),
    "provider": ("provider_start", "provider_end"),
    "derivatives": ("provider_end", "derivatives_done"),
    "store": ("derivatives_done", "outputs_stored"),
    "publish": ("outputs_stored", "event_published"),
}
PHASES = ("queued", "dispatched", "provider_start", "provider_end", "derivatives_done", "outputs_stored",
          "event_published")
LOST_ANSWER_STATES = ("waiting", "adopted", "abandoned", "canceled", "retried")
# At most this many recent finished jobs feed the quantiles of one scrape.
SAMPLE_LIMIT = 5000


def phase_spans(timings: dict) -> dict[str, float]:
    """Seconds spent in each span whose two ends were recorded."""
    timings = timings or {}
    return {
        name: round(timings[end] - timings[start], 4)
        for name, (start, end) in PHASE_SPANS.items()
        if isinstance(timings.get(start), int | float) and isinstance(timings.get(end), int | float)
    }


def generation_metrics(*, now=None, window_seconds: int | None = None) -> list[str]:
    now = now or timezone.now()
    window = window_seconds or settings.METRICS_WINDOW_SECONDS
    since = now - timedelta(seconds=window)
    lines = []

    active = dict(Generation.objects.filter(status__in=ACTIVE).order_by().values_list("status").annotate(n=Count("id")))
    lines += ["# HELP darkroom_generations_active Generations not yet ended, by status.",
              "# TYPE darkroom_generations_active gauge"]
    lines += [f"darkroom_generations_active{{{label_text({'status': s})}}} {active.get(s, 0)}" for s in ACTIVE]

    recent = dict(Generation.objects.filter(created_at__gte=since).order_by().values_list("status").annotate(n=Count("id")))
    lines += [f"# HELP darkroom_generations_recent Generations created in the last {window} s, by status.",
              "# TYPE darkroom_generations_recent gauge"]
    lines += [f"darkroom_generations_recent{{{label_text({'status': s, 'window': f'{window}s'})}}} {recent.get(s, 0)}"
              for s in Status.values]

    finished = list(
        Generation.objects.filter(created_at__gte=since, status=Status.SUCCEEDED, cached_from=None)
        .order_by("-created_at").values_list("timings", flat=True)[:SAMPLE_LIMIT]
    )
    overheads = [t["overhead"] for t in finished if isinstance((t or {}).get("overhead"), int | float)]
    totals = [t["event_published"] for t in finished if isinstance((t or {}).get("event_published"), int | float)]
    spans: dict[str, list[float]] = {name: [] for name in PHASE_SPANS}
    for timings in finished:
        for name, value in phase_spans(timings).items():
            spans[name].append(value)
    # Creates whose answer was lost (see services/lost_answers.py); `retried`: a possible double cost.
    lost: dict[str, int] = dict.fromkeys(LOST_ANSWER_STATES, 0)
    for answers in (Generation.objects.filter(created_at__gte=since).exclude(lost_answers={})
                    .values_list("lost_answers", flat=True)):
        for entry in answers.values():
            lost[entry.get("state")] = lost.get(entry.get("state"), 0) + 1
    lines += [(f"# HELP darkroom_generation_lost_answers Provider creates whose answer was lost, generations "
               f"created in the last {window} s, by what became of them (retried: a possible double cost)."),
              "# TYPE darkroom_generation_lost_answers gauge"]
    lines += [f"darkroom_generation_lost_answers{{{label_text({'state': state, 'window': f'{window}s'})}}} {n}"
              for state, n in lost.items()]
    lines += summary_lines(
        "darkroom_generation_overhead_seconds",
        f"Submit to final live event minus the provider's reported time, succeeded jobs of the last {window} s.",
        [({}, overheads)],
    )
    lines += summary_lines(
        "darkroom_generation_total_seconds",
        f"Submit to final live event, succeeded jobs of the last {window} s.",
        [({}, totals)],
    )
    lines += summary_lines(
        "darkroom_generation_phase_seconds",
        f"Time between recorded phases, succeeded jobs of the last {window} s.",
        [({"phase": name}, values) for name, values in spans.items()],
    )
    return lines


metrics_collectors.register("generations")(generation_metrics)
