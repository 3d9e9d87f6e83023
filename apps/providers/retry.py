"""Retrying a provider call: exponential backoff with full jitter, honouring Retry-After."""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import budget
from .exceptions import ProviderAccountError, ProviderAmbiguousError, ProviderRetryableError


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # calls in all, the first included
    base_delay: float = 0.5
    max_delay: float = 8.0
    # A provider asking us to wait longer than this is treated as down: better to fall back.
    max_retry_after: float = 20.0

    def delay(self, attempt: int, error: ProviderRetryableError) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now."""
        # A lost answer may have made (and billed) a job: never retried blindly (see the router).
        if attempt >= self.attempts or isinstance(error, ProviderAccountError | ProviderAmbiguousError):
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_after else None
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def call_with_retry[T](call: Callable[[], T], policy: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep) -> T:
    """Every attempt first checks the job is still wanted (budget.check); a wait that would outlast
    the job's deadline is not waited: the error goes up at once."""
    attempt = 0
    while True:
        attempt += 1
        budget.check()
        try:
            return call()
        except ProviderRetryableError as error:
            wait = policy.delay(attempt, error)
            if wait is None or ((left := budget.remaining()) is not None and wait >= left):
                raise
            sleep(wait)
