from apps.core.exceptions import ApplicationError, ConflictError


class BatchInvalidError(ApplicationError):
    code = "invalid_batch"
    http_status = 422


class BatchNotDownloadableError(ConflictError):
    code = "batch_has_no_images"
    default_message = "Nothing in this batch has finished with images yet."
