from apps.core.exceptions import ApplicationError


class InsufficientCreditsError(ApplicationError):
    code = "insufficient_credits"
    http_status = 402

    def __init__(self, *, needed: int, balance: int):
        super().__init__(
            f"This needs {needed} {'credit' if needed == 1 else 'credits'} and your balance is {balance}.",
            extra={"needed": needed, "balance": balance},
        )


class RateLimitedError(ApplicationError):
    """Over a limit: the API answers 429 with a Retry-After header, pages show the message."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int, code: str | None = None):
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, code=code, extra={"retry_after": self.retry_after})


class AdjustmentError(ApplicationError):
    """A staff action on credits that can't be done as asked (no reason, not staff, nothing to refund)."""

    code = "invalid_adjustment"
    http_status = 422


class PurchasesUnavailableError(ApplicationError):
    code = "purchases_unavailable"
    http_status = 503
    default_message = "Buying credits is not set up on this server."


class PaymentProviderError(ApplicationError):
    code = "payment_provider_error"
    http_status = 502
    default_message = "The payment service could not be reached. Please try again in a minute."


def human_duration(seconds: int) -> str:
    """3 seconds, 14 minutes, 2 hours 5 minutes — rounded up, so 'try again in' is never too early."""
    seconds = max(1, int(seconds))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours, minutes = divmod(minutes, 60)
    text = f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{text} {minutes} minute{'s' if minutes != 1 else ''}" if minutes else text
