"""Provider errors, classed by what we should do about them. Messages are safe to show."""

from apps.core.exceptions import ApplicationError


class ProviderError(ApplicationError):
    code = "provider_error"
    http_status = 502
    default_message = "The image service could not complete this request. You were not charged."


class ProviderRetryableError(ProviderError):
    """Timeouts, 5xx, 429: try again later or on another route."""

    code = "provider_unavailable"
    http_status = 503
    default_message = "The image service is busy or unavailable right now. You were not charged."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ProviderResultUnreadableError(ProviderRetryableError):
    """The provider says the job finished, but reading its result failed (5xx, 429, a timeout).
    Repeated, it is the route failing: the generation services then move the job to the next route."""


class ProviderAmbiguousError(ProviderRetryableError):
    """The request went out and its answer was lost (a read timeout, a connection dropped after the
    body was sent): the provider may have made, and billed, the job. Never retried blindly: a job
    we can find again is looked for and adopted; otherwise one counted retry at most (the router)."""

    code = "provider_answer_lost"


class ProviderAccountError(ProviderRetryableError):
    """Our account at the provider is refused (401 bad key, 403 forbidden, 402 no credit): a setup
    problem for staff, not noise. Never retried and no breaker strike; the job moves to the next
    route at once, and fails with this message when none is left."""

    code = "provider_account"
    default_message = (
        "This model is unavailable right now because of a configuration problem on our side. "
        "You were not charged."
    )

    @property
    def status(self) -> int | None:
        return self.extra.get("status")


class ProviderRejectedError(ProviderError):
    """The provider refused the input: retrying will not help."""

    code = "provider_rejected"
    http_status = 422
    default_message = "The image service could not accept these settings. You were not charged."


class ProviderBlockedError(ProviderError):
    """A safety system blocked the prompt or the output: not retried, not charged."""

    code = "content_blocked"
    http_status = 422
    default_message = "This request was blocked by the content safety filter. You were not charged."


class WebhookRejectedError(ApplicationError):
    """A webhook whose signature, timestamp or body does not check out."""

    code = "invalid_webhook"
    http_status = 400
    default_message = "Webhook refused."
