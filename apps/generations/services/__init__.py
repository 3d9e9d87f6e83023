"""Every write to a generation, one module per concern:

- `submit`: validate, quote, reuse a cached result or reserve and queue (`generation_create`)
- `dispatch`: claim a queued job and run it through the provider router, wait out outages
- `tracking`: polls, webhooks and progress, all through `generation_apply_provider_status`
- `finishing`: store outputs and charge, reroute bad outputs, fail or reject and release
- `cancel`: the owner stops a job
- `retry`: the owner asks again for what a failed job asked for
- `reaping`: deadlines and jobs abandoned by dead workers
- `costs`: a finished generation's provider dollars, from its billed calls (subscribes to `GenerationFinished`)
- `state`: the row lock, the revisioned save, notes, user messages, announcing changes as events

Each service locks the row, checks the state it expects and returns quietly if another process got
there first, so tasks and retries can call them twice. Other apps call the names below.
"""

from .cancel import generation_cancel
from .dispatch import generation_claim, generation_run
from .finishing import generation_fail, generation_reject
from .reaping import generations_reap_stuck
from .retry import generation_retry
from .submit import generation_create
from .tracking import (
    generation_apply_progress,
    generation_apply_provider_status,
    generation_apply_result,
    generation_poll,
    generation_webhook_apply,
    generation_webhook_receive,
    generation_webhooks_apply,
)

__all__ = [
    "generation_apply_progress",
    "generation_apply_provider_status",
    "generation_apply_result",
    "generation_cancel",
    "generation_claim",
    "generation_create",
    "generation_fail",
    "generation_poll",
    "generation_reject",
    "generation_retry",
    "generation_run",
    "generation_webhook_apply",
    "generation_webhook_receive",
    "generation_webhooks_apply",
    "generations_reap_stuck",
]
