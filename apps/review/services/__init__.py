"""The review app's writes. Other apps call these names.

`regenerate` (red → made again) is not imported here: it calls generations' services, which call
these, so only the review app's subscribers import it."""

from .images import review_generation_run, review_reuse, review_safety_check
from .policy import moderation_rules, moderation_rules_changed, policy_get, policy_judges, policy_limits
from .preferences import safety_preference_set
from .prompts import prompt_blocked_match, prompt_moderate
from .queue import moderation_decide, review_report_image

__all__ = [
    "moderation_decide", "moderation_rules", "moderation_rules_changed", "policy_get", "policy_judges", "policy_limits",
    "prompt_blocked_match", "prompt_moderate", "review_generation_run", "review_report_image",
    "review_reuse", "review_safety_check", "safety_preference_set",
]
