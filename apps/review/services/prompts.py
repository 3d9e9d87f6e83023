"""Prompt moderation before any provider call: the maintained word list (better-profanity) and the
staff's blocked terms and patterns. A refused prompt is recorded for the staff queue and costs nothing."""

import logging
import re
import threading

import httpx
from better_profanity import profanity
from django.conf import settings

from ..exceptions import PromptBlockedError
from ..models import ModerationItem
from .policy import moderation_rules

logger = logging.getLogger(__name__)
_WORD = re.compile(r"[\w@$!*'.-]+", re.UNICODE)
# Words of the maintained list that are ordinary in image prompts (fantasy, history, identity, a
# rooster): never refused by the list. Staff add more in ReviewPolicy.allowed_words.
ALLOWED_WORDS = (
    "kill", "killer", "killing", "hell", "damn", "drunk", "weed", "pee", "poop", "crap", "god", "gay",
    "queer", "lust", "strip", "wtf", "cock",
)
_loaded_allowed: tuple | None = None
_load_lock = threading.Lock()


def _word_list(allowed: tuple[str, ...]):
    global _loaded_allowed
    with _load_lock:
        if _loaded_allowed != allowed:
            profanity.load_censor_words(whitelist_words=list(allowed))
            _loaded_allowed = allowed
    return profanity


def _word_list_match(text: str, allowed: tuple[str, ...]) -> str:
    word_list = _word_list(allowed)
    for word in _WORD.findall(text):
        # A token with fewer than three letters ("p33", "a1") is a code or a number, not a word.
        if sum(c.isalpha() for c in word) >= 3 and word_list.contains_profanity(word):
            return word
    return ""


def _blocked_term_match(text: str, terms: list[tuple[str, bool]]) -> str:
    lowered = text.lower()
    for term, is_pattern in terms:
        if is_pattern:
            try:
                if re.search(term, text, flags=re.IGNORECASE):
                    return f"/{term}/"
            except re.error:
                logger.warning("blocked pattern does not compile", extra={"pattern": term})
        elif re.search(rf"(?<!\w){re.escape(term.lower())}(?!\w)", lowered):
            return term
    return ""


def _moderation_endpoint_match(text: str) -> str:
    """The hosted /moderations endpoint, when configured: the categories it flags. Unreachable or
    slow, it decides nothing (the word lists already ran)."""
    if not settings.REVIEW_MODERATION_URL:
        return ""
    headers = ({"Authorization": f"Bearer {settings.REVIEW_MODERATION_API_KEY}"}
               if settings.REVIEW_MODERATION_API_KEY else {})
    try:
        response = httpx.post(
            settings.REVIEW_MODERATION_URL.rstrip("/") + "/moderations", headers=headers,
            json={"model": settings.REVIEW_MODERATION_MODEL, "input": text},
            timeout=settings.REVIEW_MODERATION_TIMEOUT_SECONDS,
        )
        response.raise_for_status()
        result = response.json()["results"][0]
    except (httpx.HTTPError, ValueError, KeyError, IndexError):
        logger.warning("prompt moderation endpoint unavailable", exc_info=True)
        return ""
    if not result.get("flagged"):
        return ""
    categories = sorted(name for name, flagged in (result.get("categories") or {}).items() if flagged)
    return "moderation: " + (", ".join(categories) or "flagged")


def prompt_blocked_match(prompt: str, negative_prompt: str = "") -> str:
    """The term that refuses this prompt, or "" when it may be used."""
    text = f"{prompt}\n{negative_prompt}"
    rules = moderation_rules()
    if rules["use_word_list"]:
        allowed = tuple(sorted(set(ALLOWED_WORDS) | set(rules["allowed_words"])))
        matched = _word_list_match(text, allowed)
        if matched:
            return matched
    return _blocked_term_match(text, rules["terms"]) or _moderation_endpoint_match(text)


def prompt_moderate(*, user, prompt: str, negative_prompt: str = "") -> None:
    """Raise PromptBlockedError (nothing reserved or sent) when the prompt is refused; the refusal
    goes to the staff queue and counts as a strike."""
    matched = prompt_blocked_match(prompt or "", negative_prompt or "")
    if not matched:
        return
    ModerationItem.objects.create(
        kind=ModerationItem.Kind.PROMPT, user=user, prompt=(prompt or "")[:4000], matched=matched[:200],
        reason="The prompt matched a blocked term.",
    )
    raise PromptBlockedError(extra={"field": "prompt"})
