"""The staff's review policy: one row, made with working defaults the first time it is read."""

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
    return judges_for(task, configured=policy.judges_by_task if isinstance(policy.judges_by_task, dict) else None)
