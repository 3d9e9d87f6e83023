"""The router: runs one job on a catalogue model's chain of routes and says what came of it.

It walks the routes from a starting index, skips those that can't take the job (adapter not
configured, too few images per call, no image input) or whose circuit breaker is open, re-maps the
request to what each route accepts, calls the adapter with explicit timeouts and its retry policy,
records every call (`ProviderCall`) and every failure or success on the breakers, and falls back to
the next route on outages. Invalid input and safety blocks end the walk at once.

The caller (the generation services) gets a typed outcome and never touches adapters, breakers or
retries itself; what the router needs from the job as it goes (a note, "running", progress, "was it
canceled?") it asks through a `RunListener`.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from django.conf import settings

from apps.catalog.models import dimensions_for, nearest_aspect_ratio

from . import breaker, budget
from .costs import request_cost_usd
from .exceptions import (
    ProviderAccountError,
    ProviderAmbiguousError,
    ProviderBlockedError,
    ProviderError,
    ProviderResultUnreadableError,
    ProviderRetryableError,
)
from .models import ProviderCall
from .registry import adapter_get, adapter_registry, adapter_retry_policy
from .retry import call_with_retry
from .services import provider_call_record, provider_webhook_url
from .types import GenerationRequest, JobState, ProviderStatus, Route

logger = logging.getLogger(__name__)

# How often a generation waiting for a lost create's job to surface looks again.
ADOPT_CHECK_SECONDS = 0.2
NEGATIVE_PROMPT_DROPPED = (
    "The negative prompt was not used: the service running this model does not take one."
)


# ---------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Submitted:
    """A route took the job. `status` is its end (a blocking run, a synchronous answer) or, for a job
    the provider queued, its first state: then it is to be tracked by polling or webhooks."""

    route_index: int
    provider: str
    provider_job_id: str
    status: ProviderStatus


@dataclass(frozen=True)
class Withdrawn:
    """The job ended (canceled, failed at its deadline …) while a route was taking it (and, at a
    provider, was canceled there too)."""


@dataclass(frozen=True)
class Expired:
    """The job's deadline passed while a route was taking it: no further call was made."""


@dataclass(frozen=True)
class AllRoutesDown:
    """No route could take the job. `outage`: some were down for now (worth trying again later)."""

    outage: bool


@dataclass(frozen=True)
class Rejected:
    """A safety system blocked the job: never retried, never charged."""

    message: str


@dataclass(frozen=True)
class Failed:
    """The job can't be done as asked (invalid input, a provider error): `message` is for users."""

    code: str
    message: str


RunOutcome = Submitted | Withdrawn | Expired | AllRoutesDown | Rejected | Failed


@dataclass(frozen=True)
class Polled:
    status: ProviderStatus


@dataclass(frozen=True)
class PollAgain:
    """The provider did not answer properly: the job may still be fine, ask again later."""


@dataclass(frozen=True)
class Lost:
    """Our account at the provider stopped working mid-job: the job can't be followed any more."""


@dataclass(frozen=True)
class Unreadable:
    """The provider says the job finished, but its result could not be read this time. Repeated,
    it is the route failing (see `generation_result_unreadable`)."""


PollOutcome = Polled | PollAgain | Unreadable | Lost | Failed


class RunListener(Protocol):
    """What the router tells the job, and asks it, while walking the routes."""

    def route_down(self) -> None:
        """A route is down for now (open breaker, 5xx, 429): the job is taking longer."""

    def submitting(self) -> None:
        """About to submit to a provider that queues jobs (called once per run)."""

    def started(self, *, route_index: int, route: Route, provider_job_id: str, notes: list[str]) -> bool:
        """A route has the job. False when the job was canceled meanwhile."""

    def progressed(self, status: ProviderStatus) -> None:
        """A blocking run's progress (and maybe a preview)."""

    def is_canceled(self) -> bool:
        """The job is no longer wanted: canceled, or ended any other way (failed at its deadline …)."""

    def attempting(self, *, route_index: int, route: Route) -> int:
        """A billable create is about to be sent on a route: count it; its number (1, 2 …)."""

    def answer_lost(self, *, attempt: int, route: Route) -> None:
        """Attempt `attempt`'s create went out and its answer was lost: a job naming it may surface."""

    def surfaced(self, *, attempt: int, final: bool) -> str | None:
        """The provider job id that surfaced for a lost create, if one did. `final`: stop waiting, a
        job surfacing later is an orphan (to be canceled)."""

    def retry_lost_answer(self, *, route: Route) -> bool:
        """May a create whose job can't be found again be sent once more? At most once per job, and
        recorded as a possible double cost."""


# ---------------------------------------------------------------- running


def route_request(base: GenerationRequest, route: Route, *, attempt: int | None = None
                  ) -> tuple[GenerationRequest, list[str]]:
    """The request for one route, re-mapped to what that route accepts, and what the user should know."""
    notes = []
    aspect_ratio, width, height = base.aspect_ratio, base.width, base.height
    if (ratios := route.options.get("aspect_ratios")) and aspect_ratio not in ratios:
        aspect_ratio = nearest_aspect_ratio(aspect_ratio, ratios)
        width, height = dimensions_for(aspect_ratio=aspect_ratio, area=width * height)
    negative_prompt = base.negative_prompt
    if negative_prompt and not route.supports_negative_prompt:
        negative_prompt = ""
        notes.append(NEGATIVE_PROMPT_DROPPED)
    request = replace(
        base, provider_model=route.model, negative_prompt=negative_prompt, width=width, height=height,
        aspect_ratio=aspect_ratio, options=route.options,
        webhook_url=provider_webhook_url(route.provider, generation_id=base.job_id, attempt=attempt),
    )
    return request, notes


def _can_take(route: Route, *, num_images: int, has_inputs: bool) -> bool:
    if route.provider not in adapter_registry or not adapter_registry.get(route.provider).is_configured():
        return False
    if route.max_images < num_images:
        return False
    return not has_inputs or bool(route.options.get("accepts_image"))


def run(
    *, routes: list[Route], start: int, num_images: int, has_inputs: bool,
    base_request: Callable[[], GenerationRequest], listener: RunListener,
    deadline: datetime | None = None, job_id: str | None = None, spent: frozenset[tuple[str, str]] = frozenset(),
) -> RunOutcome:
    """Run the job on the first healthy route from `start` on, falling back on outages.

    `base_request` builds what every route gets (input images included); it is called once, when
    the first route is tried, and may raise a ProviderError (an input image is gone). Every call is
    made within the job's budget (`budget.py`): bounded by `deadline`, and only while it is wanted.
    `spent` names (provider, model) routes an earlier walk sent a create to whose answer was lost and
    whose job was never adopted: they may have made (and billed) a job, so they are not tried again."""
    with budget.bounded(deadline=deadline.timestamp() if deadline else None,
                        wanted=lambda: not listener.is_canceled(), generation_id=job_id):
        try:
            return _walk(routes=routes, start=start, num_images=num_images, has_inputs=has_inputs,
                         base_request=base_request, listener=listener, spent=set(spent))
        except budget.JobNoLongerWanted as stop:
            return Expired() if stop.extra.get("reason") == "deadline" else Withdrawn()


def _walk(
    *, routes: list[Route], start: int, num_images: int, has_inputs: bool,
    base_request: Callable[[], GenerationRequest], listener: RunListener, spent: set[tuple[str, str]],
) -> RunOutcome:
    base, outage, attempted = None, False, False
    refused: ProviderAccountError | None = None
    for index in range(start, len(routes)):
        route = routes[index]
        if (route.provider, route.model) in spent or not _can_take(route, num_images=num_images, has_inputs=has_inputs):
            continue
        if not breaker.breakers_allow(route.breaker_keys):
            outage = True
            listener.route_down()
            continue
        budget.check()  # no new route for a job that ended or ran out of time
        adapter = adapter_get(route.provider)
        if not attempted and not adapter.blocking:
            listener.submitting()
        attempted = True
        try:
            base = base or base_request()
            outcome = _run_route(adapter, index, route, base, listener)
        except ProviderAccountError as error:
            # Our key or account is refused there: a setup error for staff, not an outage. Next route.
            breaker.breakers_record_refusal(route.breaker_keys, status=error.status)
            refused = error
            continue
        except ProviderRetryableError as error:
            # A create whose answer was lost may have made a job: that route is spent for this job
            # (never sent again, here or when the chain is walked again after an outage wait).
            if isinstance(error, ProviderAmbiguousError):
                spent.add((route.provider, route.model))
            else:
                outage = True
            for key in route.breaker_keys:
                breaker.breaker_record_failure(key)
            listener.route_down()
            continue
        except ProviderBlockedError as error:
            return Rejected(error.message)
        except budget.JobNoLongerWanted:
            raise
        except ProviderError as error:
            return Failed(error.code, error.message)
        breaker.breakers_record_success(route.breaker_keys)
        return outcome
    if refused is not None and not outage:
        return Failed(refused.code, refused.message)  # no waiting: a refused key won't heal by itself
    return AllRoutesDown(outage=outage)


def _run_route(
    adapter, index: int, route: Route, base: GenerationRequest, listener: RunListener
) -> RunOutcome:
    """Blocking routes return their final status; job routes are submitted and tracked later."""
    attempt = listener.attempting(route_index=index, route=route)
    request, notes = route_request(base, route, attempt=attempt)
    cost_usd = request_cost_usd(route, request)  # recorded on each call the provider bills
    if adapter.blocking:
        if not listener.started(route_index=index, route=route, provider_job_id="", notes=notes):
            return Withdrawn()

        def run_once() -> ProviderStatus:
            return _timed_call(route, "run", lambda: adapter.run(
                request, on_progress=listener.progressed, is_canceled=listener.is_canceled,
            ), cost_usd=cost_usd)

        # Adapters retry refused calls themselves (a blocking run may bill per image). A lost answer
        # can't be looked up (no job id): one more run at most, a counted and recorded decision.
        try:
            status = run_once()
        except ProviderAmbiguousError:
            budget.check()
            if not listener.retry_lost_answer(route=route):
                raise
            status = run_once()
        return Submitted(index, route.provider, "", status)
    # Each create is recorded on its own: a refused one made nothing, a lost answer may have.
    try:
        submitted = call_with_retry(
            lambda: _timed_call(route, "submit", lambda: adapter.submit(request), cost_usd=cost_usd),
            adapter_retry_policy(adapter),
        )
    except ProviderAmbiguousError:
        submitted = _adopt(route, request, attempt, listener)
        if submitted is None:
            raise
    job_id = submitted.provider_job_id
    if not listener.started(route_index=index, route=route, provider_job_id=job_id, notes=notes):
        # Canceled while we were submitting: tell the provider too.
        job_cancel(route.provider, job_id)
        return Withdrawn()
    return Submitted(index, route.provider, job_id, submitted)


def _adopt(route: Route, request: GenerationRequest, attempt: int, listener: RunListener) -> ProviderStatus | None:
    """A create whose answer was lost may have made a job: wait (up to PROVIDER_ADOPT_WAIT_SECONDS,
    within the deadline) for it to surface through a webhook naming this attempt, and adopt it.
    None when it did not: the caller moves on, and a job surfacing later is canceled as an orphan.
    Without a webhook URL nothing can name the job, so there is nothing to wait for."""
    if not request.webhook_url:
        return None
    listener.answer_lost(attempt=attempt, route=route)
    until = time.monotonic() + budget.seconds(settings.PROVIDER_ADOPT_WAIT_SECONDS)
    while True:
        try:
            budget.check()
        except budget.JobNoLongerWanted:
            if job_id := listener.surfaced(attempt=attempt, final=True):
                job_cancel(route.provider, job_id)
            raise
        final = time.monotonic() >= until
        if job_id := listener.surfaced(attempt=attempt, final=final):
            logger.info("adopted a job whose create answer was lost",
                        extra={"provider": route.provider, "job": job_id, "generation": request.job_id})
            return ProviderStatus(state=JobState.QUEUED, provider_job_id=job_id)
        if final:
            return None
        time.sleep(ADOPT_CHECK_SECONDS)


def _timed_call(route: Route, operation: str, call, *, cost_usd=None):
    started = time.monotonic()
    outcome = ProviderCall.Outcome.OK
    try:
        return call()
    except budget.JobNoLongerWanted:
        outcome = ProviderCall.Outcome.STOPPED
        raise
    except ProviderAmbiguousError:
        outcome = ProviderCall.Outcome.ANSWER_LOST
        raise
    except ProviderAccountError:
        outcome = ProviderCall.Outcome.CREDENTIALS_REFUSED
        raise
    except ProviderRetryableError:
        outcome = ProviderCall.Outcome.RETRYABLE
        raise
    except ProviderBlockedError:
        outcome = ProviderCall.Outcome.BLOCKED
        raise
    except ProviderError:
        outcome = ProviderCall.Outcome.REJECTED
        raise
    finally:
        provider_call_record(provider=route.provider, model=route.model, operation=operation, outcome=outcome,
                             seconds=time.monotonic() - started,
                             cost_usd=cost_usd if outcome == ProviderCall.Outcome.OK else None)


def route_failed(route: Route) -> None:
    """A route's answer failed our checks (e.g. a blank image): it counts against its breakers."""
    for key in route.breaker_keys:
        breaker.breaker_record_failure(key)


# ---------------------------------------------------------------- following a job


def job_id_named(provider: str, named_id: str, model: str) -> str:
    """Our full job id for a job a provider names by its own id alone (fal's webhooks: the request id)."""
    full_id = getattr(adapter_get(provider), "job_id_named", None)
    return full_id(named_id, model) if full_id else named_id


def job_poll(provider: str, provider_job_id: str) -> PollOutcome:
    """Ask a provider how a submitted job is doing."""
    try:
        return Polled(adapter_get(provider).poll(provider_job_id))
    except ProviderAccountError as error:
        breaker.breakers_record_refusal((provider,), status=error.status)
        return Lost()
    except ProviderResultUnreadableError:
        return Unreadable()
    except ProviderRetryableError:
        return PollAgain()
    except ProviderError as error:
        return Failed(error.code, error.message)


def job_cancel(provider: str, provider_job_id: str) -> None:
    """Best effort: a job we gave up on should stop costing at the provider too."""
    if not provider_job_id:
        return
    cancel = getattr(adapter_get(provider), "cancel", None)
    if cancel is None:
        return
    try:
        with budget.lifted():  # stopping a cost is never bounded by the job's own deadline
            cancel(provider_job_id)
    except ProviderError:
        logger.warning("provider cancel failed", extra={"provider": provider, "job": provider_job_id})
