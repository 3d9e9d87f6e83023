"""The staff's review policy: one row, made with working defaults the first time it is read; and the
prompt-moderation rules (word list switch, allowed words, blocked terms) as one cached read, since
every submit needs them: kept in the shared cache until staff change a rule (the models' save and
delete signals drop it), so a submit makes no query for them."""

import logging

from django.core.cache import cache

from ..judges import vision
from ..models import BlockedTerm, ReviewPolicy
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


RULES_KEY = "review:moderation-rules:v1"
RULES_SECONDS = 600
logger = logging.getLogger(__name__)


def moderation_rules() -> dict:
    """{"use_word_list", "allowed_words", "terms": [(text, is_pattern)]}, from the cache or the database."""
    try:
        rules = cache.get(RULES_KEY)
    except Exception:  # the cache is a shortcut: with Redis away, read the database
        logger.warning("moderation rules cache unavailable", exc_info=True)
        rules = None
    if rules is not None:
        return rules
    policy = policy_get()
    rules = {
        "use_word_list": policy.use_word_list,
        "allowed_words": sorted({w.strip().lower() for w in (policy.allowed_words or "").split(",") if w.strip()}),
        "terms": list(BlockedTerm.objects.filter(active=True).values_list("text", "is_pattern")),
    }
    try:
        cache.set(RULES_KEY, rules, RULES_SECONDS)
    except Exception:
        logger.warning("moderation rules cache unavailable", exc_info=True)
    return rules


def moderation_rules_changed(**kwargs) -> None:
    """A policy or blocked term was saved or deleted: the next submit reads the rules again."""
    try:
        cache.delete(RULES_KEY)
    except Exception:
        logger.warning("moderation rules cache unavailable", exc_info=True)
