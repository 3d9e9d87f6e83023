"""Creates whose answer was lost (a read timeout, a connection dropped after the request went out):
the provider may have made, and will bill, the job. Never a blind second create:

- a job we can find again (its webhook names our generation and route attempt) is waited for and
  adopted; once the generation moved on, a job surfacing late is an orphan, canceled at the provider
  (by a task: this runs as the webhook is received);
- where it can't be found (synchronous APIs, no job id), one deliberate re-send at most, recorded on
  the generation (`possible_double_cost`, the admin's generation page) and logged for staff.
"""

import logging

from django.db import transaction
from django.db.models import F

from apps.providers import router
from apps.providers.types import Route

from .. import tasks
from ..models import Generation
from .state import generation_lock, generation_save

logger = logging.getLogger(__name__)

WAITING, ADOPTED, ABANDONED, CANCELED, RETRIED = "waiting", "adopted", "abandoned", "canceled", "retried"


def generation_route_attempt(generation_id) -> int:
    """Count one more billable create about to be sent; its number."""
    Generation.objects.filter(pk=generation_id).update(route_attempts=F("route_attempts") + 1)
    return Generation.objects.values_list("route_attempts", flat=True).get(pk=generation_id)


def generation_spent_routes(generation: Generation) -> frozenset[tuple[str, str]]:
    """(provider, model) of every create whose answer was lost and whose job was not adopted: a
    later walk of the chain (after an outage wait) must not send to them again."""
    return frozenset((entry["provider"], entry["model"]) for entry in generation.lost_answers.values()
                     if entry["state"] != ADOPTED)


def generation_answer_lost(generation_id, *, attempt: int, route: Route) -> None:
    """Attempt `attempt`'s create lost its answer: wait for a job naming it."""
    with transaction.atomic():
        generation = generation_lock(generation_id)
        if generation is None:
            return
        generation.lost_answers = {**generation.lost_answers,
                                   str(attempt): {"provider": route.provider, "model": route.model, "state": WAITING}}
        generation_save(generation, "lost_answers")
    logger.warning("provider create answer lost", extra={"generation": str(generation_id), "provider": route.provider,
                                                          "attempt": attempt})


def generation_lost_job(generation_id, *, attempt: int, final: bool) -> str | None:
    """The job adopted for a lost create, if it surfaced; with `final`, stop waiting for it."""
    with transaction.atomic():
        generation = generation_lock(generation_id)
        entry = generation and generation.lost_answers.get(str(attempt))
        if not entry:
            return None
        if entry["state"] == ADOPTED:
            return entry["job"]
        if final and entry["state"] == WAITING:
            entry["state"] = ABANDONED
            generation_save(generation, "lost_answers")
    return None


def generation_job_surfaced(*, generation_id, attempt: int, provider: str, named_id: str) -> None:
    """A provider reported on a job naming our generation and route attempt, under an id we never
    heard back: adopt it while its generation waits for it, else cancel it there (an orphan)."""
    orphan = None
    with transaction.atomic():
        generation = generation_lock(generation_id)
        entry = generation and generation.lost_answers.get(str(attempt))
        if not entry or entry["provider"] != provider:
            return  # not a lost create: the create's own answer names its job
        job_id = router.job_id_named(provider, named_id, entry["model"])
        if entry.get("job") == job_id:
            return  # already adopted or canceled
        if entry["state"] == WAITING and generation.is_active:
            entry.update(state=ADOPTED, job=job_id)
        else:
            entry.update(state=CANCELED, job=job_id)
            orphan = job_id
        generation_save(generation, "lost_answers")
    if orphan:
        logger.warning("orphan provider job canceled", extra={"generation": str(generation_id), "provider": provider,
                                                               "job": orphan})
        # Called as a webhook is received: the provider's answer does not wait on the cancel call.
        tasks.generation_orphan_cancel_task.delay(provider=provider, provider_job_id=orphan)


def generation_retry_lost_answer(generation_id, *, route: Route) -> bool:
    """One re-send of a create that can't be found again, at most, per generation: counted as a route
    attempt and recorded as a possible double cost. False when it was already spent."""
    with transaction.atomic():
        generation = generation_lock(generation_id)
        if generation is None or not generation.is_active or generation.possible_double_cost:
            return False
        attempt = generation.route_attempts + 1
        generation.route_attempts = attempt
        generation.lost_answers = {**generation.lost_answers,
                                   str(attempt): {"provider": route.provider, "model": route.model, "state": RETRIED}}
        generation_save(generation, "route_attempts", "lost_answers")
    logger.warning("possible double cost: a create whose answer was lost is sent again",
                   extra={"generation": str(generation_id), "provider": route.provider, "model": route.model})
    return True
