"""Dispatching a generation: a worker claims it, hands it to the provider router, and acts on the
outcome — track a queued job, apply a finished one, wait out an outage, or end it."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.media.models import Upload
from apps.media.storage import file_read
from apps.providers import router
from apps.providers.exceptions import ProviderRejectedError
from apps.providers.types import GenerationRequest, ProviderStatus, Route

from .. import tasks
from ..models import ACTIVE, Generation, Status
from . import finishing, lost_answers, tracking
from .state import (
    ALL_ROUTES_DOWN_MESSAGE,
    SLOW_NOTE,
    TIMEOUT_MESSAGE,
    announce_progress,
    generation_add_note,
    generation_lock,
    generation_note,
    generation_save,
)


def generation_claim(generation_id) -> Generation | None:
    """Take the job for this worker. A redelivered task finds it dispatched or running and goes on."""
    with transaction.atomic():
        generation = generation_lock(generation_id)
        if generation is None or generation.status not in (Status.QUEUED, Status.DISPATCHED, Status.RUNNING):
            return None
        if generation.status == Status.QUEUED:
            generation.dispatch()
            generation.dispatched_at = timezone.now()
            generation.timing_mark("dispatched", generation.dispatched_at)
            generation_save(generation, "dispatched_at", "timings")
            # Announced by the run only if the route queues the job (see `_Run.submitting`).
        elif generation.next_attempt_at:
            generation.next_attempt_at = None  # this is the attempt that was scheduled
            generation_save(generation, "next_attempt_at")
    return generation


def generation_mark_running(generation_id, *, route_index: int, route: Route, provider_job_id: str = "",
                            notes: list[str] = ()) -> bool:
    """A route has the job. False when it is no longer dispatched or running (canceled meanwhile)."""
    with transaction.atomic():
        generation = generation_lock(generation_id)
        if generation is None or generation.status not in (Status.DISPATCHED, Status.RUNNING):
            return False
        if generation.status == Status.DISPATCHED:
            generation.start()
            generation.started_at = timezone.now()
            generation.timing_mark("provider_start", generation.started_at)
        generation.provider, generation.route_index = route.provider, route_index
        generation.provider_job_id = provider_job_id
        for note in notes:
            generation_note(generation, note)
        generation_save(
            generation, "started_at", "provider", "route_index", "provider_job_id", "notes", "timings"
        )
        announce_progress(generation)
        if provider_job_id:
            # The provider may have called back before its create answer reached us (or, for a
            # create whose answer was lost, before its job was adopted): a webhook stored meanwhile
            # for this job is applied now (robust: a failure there is logged, and the poll still
            # follows the job).
            transaction.on_commit(
                lambda: tracking.generation_webhooks_apply(generation_id=generation_id), robust=True
            )
    return True


def generation_request(generation: Generation) -> GenerationRequest:
    """What every route gets, input images included (read once per run, not once per route)."""
    inputs = generation.params.get("inputs") or {}
    return GenerationRequest(
        job_id=str(generation.id), provider_model="", prompt=generation.prompt,
        negative_prompt=generation.negative_prompt, width=generation.width, height=generation.height,
        aspect_ratio=generation.params.get("aspect_ratio", "1:1"), num_images=generation.num_images,
        seed=generation.seed or None, strength=generation.params.get("strength"),
        image=_upload_bytes(inputs.get("image")), mask=_upload_bytes(inputs.get("mask")),
        references=tuple(_upload_bytes(ref) for ref in inputs.get("references", ())),
        duration_seconds=generation.params.get("duration_seconds"),
    )


def _upload_bytes(upload_id) -> bytes | None:
    if not upload_id:
        return None
    upload = Upload.objects.filter(pk=upload_id).first()
    if upload is None:
        raise ProviderRejectedError(
            "An input image of this generation no longer exists. You were not charged."
        )
    return file_read(upload.file)


class _Run:
    """The router's view of the job it is running (see `router.RunListener`)."""

    def __init__(self, generation: Generation):
        self.generation = generation
        self.generation_id = generation.id

    def route_down(self) -> None:
        generation_add_note(self.generation_id, SLOW_NOTE)

    def submitting(self) -> None:
        # A provider that queues the job may take a while to accept it: show it is on its way.
        # One that runs it while we wait says "running" a moment later, so no event for that.
        announce_progress(self.generation)

    def started(self, *, route_index: int, route: Route, provider_job_id: str, notes: list[str]) -> bool:
        return generation_mark_running(self.generation_id, route_index=route_index, route=route,
                                       provider_job_id=provider_job_id, notes=notes)

    def progressed(self, status: ProviderStatus) -> None:
        tracking.generation_apply_progress(generation_id=self.generation_id, status=status)

    def is_canceled(self) -> bool:
        # Any end counts (canceled, failed at its deadline by the reaper …): a job no longer wanted
        # must not make another billable call.
        return not Generation.objects.filter(pk=self.generation_id, status__in=ACTIVE).exists()

    def attempting(self, *, route_index: int, route: Route) -> int:
        return lost_answers.generation_route_attempt(self.generation_id)

    def answer_lost(self, *, attempt: int, route: Route) -> None:
        lost_answers.generation_answer_lost(self.generation_id, attempt=attempt, route=route)

    def surfaced(self, *, attempt: int, final: bool) -> str | None:
        return lost_answers.generation_lost_job(self.generation_id, attempt=attempt, final=final)

    def retry_lost_answer(self, *, route: Route) -> bool:
        return lost_answers.generation_retry_lost_answer(self.generation_id, route=route)


def generation_run(*, generation_id) -> None:
    """Run the job on the first healthy route of its model's chain, falling back on outages."""
    generation = generation_claim(generation_id)
    if generation is None:
        return
    if generation.provider_job_id:
        # A redelivered task for a job already submitted: keep tracking it, never submit twice.
        tasks.generation_poll_task.delay(generation_id=str(generation_id))
        return
    outcome = router.run(
        routes=generation.catalog_model.route_list, start=generation.route_index,
        num_images=generation.num_images, has_inputs=bool(generation.params.get("inputs")),
        base_request=lambda: generation_request(generation), listener=_Run(generation),
        deadline=generation.deadline_at, job_id=str(generation_id),
        spent=lost_answers.generation_spent_routes(generation),
    )
    match outcome:
        case router.Submitted(status=status) if status.state.is_terminal:
            tracking.generation_apply_result(generation_id=generation_id, status=status)
        case router.Submitted():
            tasks.generation_poll_task.apply_async(
                kwargs={"generation_id": str(generation_id)}, countdown=settings.PROVIDER_POLL_INTERVAL
            )
        case router.Rejected(message=message):
            finishing.generation_reject(generation_id=generation_id, message=message)
        case router.Failed(code=code, message=message):
            finishing.generation_fail(generation_id=generation_id, code=code, message=message)
        case router.Withdrawn():
            pass  # ended while a route was taking it: whoever ended it said all there is to say
        case router.Expired():
            finishing.generation_fail(generation_id=generation_id, code="timeout", message=TIMEOUT_MESSAGE)
        case router.AllRoutesDown(outage=outage):
            if not (outage and _generation_wait_for_routes(generation_id)):
                finishing.generation_fail(generation_id=generation_id, code="provider_unavailable",
                                          message=ALL_ROUTES_DOWN_MESSAGE)


def _generation_wait_for_routes(generation_id) -> bool:
    """Every route is down for now (open breakers, 5xx, 429): run the chain again from the top after
    a breaker cooldown, a few times, while the deadline allows. False when the job should fail now."""
    delay = settings.BREAKER_COOLDOWN_SECONDS
    with transaction.atomic():
        generation = generation_lock(generation_id)
        if generation is None or not generation.is_active:
            return True  # canceled meanwhile: nothing left to do
        if generation.outage_waits >= settings.GENERATION_OUTAGE_WAITS or (
            generation.deadline_at and timezone.now() + timedelta(seconds=delay) >= generation.deadline_at
        ):
            return False
        generation.outage_waits += 1
        generation.route_index = 0
        # This run owns the next attempt: the reaper leaves the job alone until it is due.
        generation.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        generation_save(generation, "outage_waits", "route_index", "next_attempt_at")
        transaction.on_commit(lambda: tasks.generation_run_task.apply_async(
            kwargs={"generation_id": str(generation_id)}, countdown=delay
        ))
    return True
