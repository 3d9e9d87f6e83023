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


class ProviderAccountError(ProviderRetryableError):
    """Our account at the provider is refused (bad key, no credit, forbidden): this route is unusable
    for now, so the job moves to the next route at once — retrying the same call won't help."""

    code = "provider_account"


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
