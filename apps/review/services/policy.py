"""The staff's review policy: one row, made with working defaults the first time it is read."""

from ..judges import vision
from ..models import ReviewPolicy
from ..registry import DEFAULT_LIMITS, judges_for


def policy_get() -> ReviewPolicy:
    policy, _ = ReviewPolicy.objects.get_or_create(pk=1)
    return policy


def policy_limits(policy: ReviewPolicy) -> dict:
    overrides = {k: float(v) for k, v in (policy.thresholds or {}).items()
                 if k in DEFAULT_LIMITS and isinstance(v, int | float)}
    return {**DEFAULT_LIMITS, **overrides}


def policy_judges(policy: ReviewPolicy, task: str) -> list:
    """The judges staff set for this task, else the defaults, with the hosted vision judge added to
    the defaults when its endpoint is configured."""
    configured = policy.judges_by_task if isinstance(policy.judges_by_task, dict) else {}
    chosen = judges_for(task, configured=configured)
    if str(task) not in configured and vision.configured() and all(j.name != vision.NAME for j in chosen):
        chosen.append(vision.judge)
    return chosen
