"""The reaper's sweep: no job outlives its deadline, and none is left behind by a dead worker."""

from django.utils import timezone

from apps.providers import router

from .. import recovery
from ..models import ACTIVE, Generation
from . import finishing
from .state import TIMEOUT_MESSAGE


def generations_reap_stuck() -> dict:
    """Fail what passed its deadline, re-send what was queued but never picked up, and finish what
    a dead worker left half-saved."""
    now = timezone.now()
    expired = list(
        Generation.objects.filter(status__in=ACTIVE, deadline_at__lt=now)
        .values_list("pk", "provider", "provider_job_id")
    )
    for generation_id, provider, job_id in expired:
        router.job_cancel(provider, job_id)
        finishing.generation_fail(generation_id=generation_id, code="timeout", message=TIMEOUT_MESSAGE)
    # Queued, running or half-saved jobs no live worker holds: sent again (see recovery.py).
    redriven = recovery.generations_redrive_stuck(now=now)
    return {"failed": len(expired), "redriven": redriven}
