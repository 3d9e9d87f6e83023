"""The library's refusals: each a stable code and a message safe to show."""

from apps.core.exceptions import ApplicationError, ConflictError, NotFoundError


class ItemNotFoundError(NotFoundError):
    code = "not_found"
    default_message = "Not found."


class StillRunningError(ConflictError):
    code = "generation_active"
    default_message = "This generation is still running: cancel it first, then delete it."


class UndoExpiredError(ConflictError):
    code = "undo_expired"
    default_message = "It is too late to undo: the files have been removed."


class InvalidItemError(ApplicationError):
    code = "invalid_item"
    http_status = 422
    default_message = "Name items as generation, image or photo with their id."


class WrongPasswordError(ApplicationError):
    code = "wrong_password"
    http_status = 403
    default_message = "That password is not right."


class ExportPendingError(ConflictError):
    code = "export_pending"
    default_message = "An export is already being prepared; it will be ready soon."
