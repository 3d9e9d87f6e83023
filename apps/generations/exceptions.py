from apps.core.exceptions import ApplicationError, ConflictError


class InvalidGenerationError(ApplicationError):
    code = "invalid_request"
    http_status = 422


class ModelUnavailableError(ApplicationError):
    code = "model_unavailable"
    http_status = 422


class NotCancelableError(ConflictError):
    code = "not_cancelable"
    default_message = "This generation has already finished and can't be canceled."


class NotRetryableError(ConflictError):
    code = "not_retryable"
    default_message = "Only a generation that failed can be tried again."
