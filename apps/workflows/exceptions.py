from apps.core.exceptions import ApplicationError, ConflictError


class WorkflowInvalidError(ApplicationError):
    """A graph (or a run's inputs) that can't be used. `errors` point at nodes: [{node, field, message}]."""

    code = "invalid_workflow"
    http_status = 422

    def __init__(self, errors: list[dict], *, code: str | None = None, labels: dict | None = None):
        self.errors = errors
        first = errors[0]
        where = (labels or {}).get(first.get("node")) or first.get("node")
        message = f"{where}: {first['message']}" if where else first["message"]
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        super().__init__(message, code=code, extra={"errors": errors})


class WorkflowNameError(ApplicationError):
    code = "invalid_request"
    http_status = 422
    default_message = "Give the workflow a name of at most 100 characters."


class NoVersionError(ConflictError):
    code = "no_version"
    default_message = "Save the workflow in the builder before running it."


class RunNotCancelableError(ConflictError):
    code = "not_cancelable"
    default_message = "This run has already ended."


class NodeNotRetryableError(ConflictError):
    code = "not_retryable"
    default_message = "Only a failed node of a run that was not canceled can be retried."


class RunNotResumableError(ConflictError):
    code = "not_resumable"
    default_message = "Only a failed run can be resumed."
