"""Ending a generation: store the outputs and charge (finish), try the next route when outputs fail
their checks (reroute), or fail or reject it and release the held credits."""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.catalog import pricing
from apps.catalog.models import CatalogModel
from apps.core import leases
from apps.credits import services as credits_services
from apps.providers import router
from apps.providers.exceptions import ProviderError
from apps.providers.types import ProviderStatus
from apps.review import services as review_services

from .. import storage, tasks
from ..models import ACTIVE, Generation, Status
from .state import (
    SLOW_NOTE,
    announce_end,
    announce_progress,
    generation_lock,
    generation_note,
    generation_save,
)

logger = logging.getLogger(__name__)

# A job stuck in `finishing` this long had its worker die mid-save: another may finish it.
FINISHING_STALE_AFTER = timedelta(minutes=2)


def generation_finish(*, generation_id, status: ProviderStatus) -> None:
    """Store the outputs and charge, once: only the caller that moves the job to `finishing` does
    the work (or, if that worker died, whoever finds it stale)."""
    # Outputs that came as bytes start on their derivatives now, while the job is marked finishing
    # and that is published; a duplicate delivery that stops below only wasted a little CPU.
    started = storage.derivatives_start(status.outputs)
    with transaction.atomic():
        generation = generation_lock(generation_id)
        if generation is None:
            return
        now = timezone.now()
        # A finisher that died (its lease gone with its connection) or is long overdue is taken over.
        stale = generation.status == Status.FINISHING and (
            now - generation.finishing_at > FINISHING_STALE_AFTER or leases.lease_abandoned(generation_id)
        )
        if generation.status not in (Status.DISPATCHED, Status.RUNNING) and not stale:
            return  # canceled meanwhile, or another delivery is finishing it
        if generation.status == Status.DISPATCHED:
            generation.start()
            generation.started_at = now
        if generation.status == Status.RUNNING:
            generation.begin_finishing()
        generation.finishing_at = now
        generation.progress = 0.99
        generation.predict_seconds = status.predict_seconds
        generation.timing_mark("provider_end", now)
        if status.seed:
            generation.seed = status.seed[:40]  # the seed the provider says it used, so results can be redone
        generation_save(
            generation, "started_at", "finishing_at", "progress", "predict_seconds", "seed", "timings"
        )
        if len(started) < len(status.outputs):
            # Outputs still to download (or a clip to decode) can take a while: say so. Images
            # already in hand are done in a few tens of milliseconds, before the event would show.
            announce_progress(generation)
    try:
        images = storage.generation_outputs_store(generation=generation, outputs=status.outputs, started=started)
    except storage.InvalidOutputError as error:
        logger.warning("output rejected", extra={"generation": str(generation_id), "reason": str(error)})
        generation_reroute(generation_id=generation_id)
        return
    # Safety runs before the image becomes visible: a flagged one is never shown plainly first.
    review_services.review_safety_check(generation=generation)
    stored_timings = generation.timings  # with derivatives_done and outputs_stored
    with transaction.atomic():
        generation = generation_lock(generation_id)
        if generation is None or generation.status != Status.FINISHING:
            return
        generation.succeed()
        generation.progress = 1.0
        generation.finished_at = timezone.now()
        generation.timings = {**stored_timings, **generation.timings}
        _charge(generation, delivered=len(images))
        generation_save(generation, "progress", "finished_at", "timings", "images_delivered", "charged_credits")
        announce_end(generation)


def _charge(generation: Generation, *, delivered: int) -> None:
    """Users pay for what they received: capture the quote for the images delivered, release the
    rest. Called with the generation locked, as it succeeds (saved by the caller)."""
    asked = generation.num_images
    generation.images_delivered = min(delivered, asked)
    generation.charged_credits = _delivered_price(generation)
    noun = "clip" if generation.catalog_model.kind == CatalogModel.Kind.VIDEO else "image"
    what = f"{generation.images_delivered} of {asked} {noun}s delivered"
    returned = generation.quoted_credits - generation.charged_credits
    credits_services.credits_capture(
        generation=generation, amount=generation.charged_credits,
        capture_note=what if returned else "",
        release_note=f"{asked - generation.images_delivered} of {asked} {noun}s not delivered",
    )


def _delivered_price(generation: Generation) -> int:
    """The quote for the images delivered (the whole quote when all came), never above what was held."""
    if generation.images_delivered >= generation.num_images:
        return generation.quoted_credits
    params = generation.params
    price = pricing.quote(catalog_model=generation.catalog_model, tier=params.get("tier"),
                          num_images=generation.images_delivered, duration_seconds=params.get("duration_seconds"))
    return min(price, generation.quoted_credits)


def generation_reroute(
    *, generation_id, code: str = "invalid_output", message: str = ProviderError.default_message
) -> None:
    """A route gave outputs that failed their checks, or a finished job's result could not be read:
    like a provider error, count it against the route and try the next one; with none left the job
    fails with `code` and `message`, uncharged."""
    with transaction.atomic():
        generation = generation_lock(generation_id)
        if generation is None or generation.status not in (Status.RUNNING, Status.FINISHING):
            return
        routes = generation.catalog_model.route_list
        if generation.route_index < len(routes):
            router.route_failed(routes[generation.route_index])
        exhausted = generation.route_index + 1 >= len(routes)
        if not exhausted:
            generation.reroute()
            generation.route_index += 1
            generation.provider, generation.provider_job_id = "", ""
            generation.result_read_failures = 0  # counted per provider job
            generation.progress = 0
            generation_note(generation, SLOW_NOTE)
            generation_save(generation, "route_index", "provider", "provider_job_id", "result_read_failures",
                            "progress", "notes")
            announce_progress(generation)
            transaction.on_commit(lambda: tasks.generation_run_task.delay(generation_id=str(generation_id)))
    if exhausted:
        generation_fail(generation_id=generation_id, code=code, message=message)


def _end(generation_id, *, transition: str, code: str, message: str) -> None:
    with transaction.atomic():
        generation = generation_lock(generation_id)
        if generation is None or generation.status not in ACTIVE:
            return
        getattr(generation, transition)()
        generation.error_code = code[:50]
        generation.error_message = message[:300]
        generation.finished_at = timezone.now()
        generation_save(generation, "error_code", "error_message", "finished_at")
        credits_services.credits_release(generation=generation)
        announce_end(generation)


def generation_fail(*, generation_id, code: str, message: str) -> None:
    """Fail and release the held credits. `message` is shown to the user."""
    _end(generation_id, transition="fail", code=code, message=message)


def generation_reject(*, generation_id, message: str) -> None:
    _end(generation_id, transition="reject", code="content_blocked", message=message)

