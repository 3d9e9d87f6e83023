"""Job samples: one row per ended generation with its phase timings (see models.JobSample)."""

from datetime import timedelta

from django.utils import timezone

from apps.core import events
from apps.generations.metrics import PHASE_SPANS, phase_spans
from apps.generations.models import TERMINAL, Generation

from ..models import JobSample

FIELDS = ("created_at", "finished_at", "status", "provider", "error_code", "timings", "cached_from",
          "catalog_model__slug")


def _sample(generation: Generation) -> JobSample:
    finished_at = generation.finished_at or timezone.now()
    spans = phase_spans(generation.timings)
    return JobSample(
        generation_id=generation.pk, finished_at=finished_at, provider=generation.provider,
        model=generation.catalog_model.slug, status=generation.status, error_code=generation.error_code,
        total_seconds=max(0.0, round((finished_at - generation.created_at).total_seconds(), 4)),
        **{f"{name}_seconds": spans.get(name) for name in PHASE_SPANS},
    )


def job_sample_record(*, generation_id) -> JobSample | None:
    """Store how an ended generation went; once per generation (a repeat is a no-op). A result served
    from the cache is not a provider's run and is not sampled."""
    generation = (Generation.objects.select_related("catalog_model").filter(pk=generation_id).only(*FIELDS).first())
    if generation is None or generation.status not in TERMINAL or generation.cached_from_id:
        return None
    sample = _sample(generation)
    # The unique generation id makes a second report (a stale worker's repeat event) insert nothing.
    JobSample.objects.bulk_create([sample], ignore_conflicts=True)
    return sample


def job_samples_backfill(*, days: int, batch: int = 1000) -> int:
    """Samples for the generations that ended in the last `days` days without one (those that ended
    before this app was installed): the dashboard and the progress curve start from history.
    Returns how many were added; safe to run again."""
    since = timezone.now() - timedelta(days=days)
    ended = (Generation.objects.select_related("catalog_model").only(*FIELDS)
             .filter(status__in=TERMINAL, finished_at__gte=since, cached_from__isnull=True).order_by("finished_at", "pk"))
    added, page = 0, []
    for generation in ended.iterator(chunk_size=batch):
        page.append(generation)
        if len(page) == batch:
            added += _add_missing(page)
            page = []
    return added + (_add_missing(page) if page else 0)


def _add_missing(generations: list[Generation]) -> int:
    have = set(JobSample.objects.filter(generation_id__in=[g.pk for g in generations])
               .values_list("generation_id", flat=True))
    missing = [_sample(g) for g in generations if g.pk not in have]
    JobSample.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)


def job_sample_on_finished(event: events.GenerationFinished) -> None:
    job_sample_record(generation_id=event.generation_id)
