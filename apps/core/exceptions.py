"""Domain errors. Their messages are safe to show to users; each interface maps them once."""


class ApplicationError(Exception):
    code = "error"
    http_status = 400
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, code: str | None = None, extra: dict | None = None):
        self.message = message or self.default_message
        if code:
            self.code = code
        self.extra = extra or {}
        super().__init__(self.message)


class NotFoundError(ApplicationError):
    code = "not_found"
    http_status = 404
    default_message = "Not found."


class ConflictError(ApplicationError):
    code = "conflict"
    http_status = 409
