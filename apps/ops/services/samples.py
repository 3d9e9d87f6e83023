"""Job samples: one row per ended generation with its phase timings (see models.JobSample)."""

from django.utils import timezone

from apps.core import events
from apps.generations.metrics import PHASE_SPANS, phase_spans
from apps.generations.models import TERMINAL, Generation

from ..models import JobSample


def job_sample_record(*, generation_id) -> JobSample | None:
    """Store how an ended generation went; once per generation (a repeat is a no-op). A result served
    from the cache is not a provider's run and is not sampled."""
    generation = (Generation.objects.select_related("catalog_model").filter(pk=generation_id)
                  .only("created_at", "finished_at", "status", "provider", "error_code", "timings", "cached_from",
                        "catalog_model__slug").first())
    if generation is None or generation.status not in TERMINAL or generation.cached_from_id:
        return None
    finished_at = generation.finished_at or timezone.now()
    spans = phase_spans(generation.timings)
    sample = JobSample(
        generation_id=generation.pk, finished_at=finished_at, provider=generation.provider,
        model=generation.catalog_model.slug, status=generation.status, error_code=generation.error_code,
        total_seconds=max(0.0, round((finished_at - generation.created_at).total_seconds(), 4)),
        **{f"{name}_seconds": spans.get(name) for name in PHASE_SPANS},
    )
    # The unique generation id makes a second report (a stale worker's repeat event) insert nothing.
    JobSample.objects.bulk_create([sample], ignore_conflicts=True)
    return sample


def job_sample_on_finished(event: events.GenerationFinished) -> None:
    job_sample_record(generation_id=event.generation_id)
