"""Upload errors: each has a stable code and HTTP status; messages are safe to show.

Reading an image can fail in ways `apps.imaging.exceptions` names (empty, too large, not an image,
damaged); these are the refusals only an upload, or an edit of one, can meet.
"""

from apps.core.exceptions import ApplicationError
from apps.imaging.exceptions import megapixels


class MediaError(ApplicationError):
    code = "invalid_image"
    http_status = 422
    default_message = "This image can't be used."


class FileRequiredError(MediaError):
    code = "file_required"
    default_message = "Attach an image file."


class InvalidKindError(MediaError):
    code = "invalid_kind"
    default_message = "The kind must be photo, mask or reference."


class MaskPhotoRequiredError(MediaError):
    code = "mask_photo_required"
    default_message = "A mask needs the photo it belongs to (photo_id)."


class MaskSizeMismatchError(MediaError):
    code = "mask_size_mismatch"

    def __init__(self, *, mask: tuple[int, int], photo: tuple[int, int]):
        super().__init__(
            f"The mask is {mask[0]}×{mask[1]} pixels but the photo is {photo[0]}×{photo[1]}; they must match."
        )


class MaskEmptyError(MediaError):
    code = "mask_empty"
    default_message = "The mask is empty: paint the area to change first."


class NotAPhotoError(MediaError):
    code = "not_a_photo"
    default_message = "This only works on photos."


class InvalidOperationError(MediaError):
    code = "invalid_operation"
    default_message = "This operation or one of its settings is not available."


class ResultTooLargeError(MediaError):
    code = "result_too_large"

    def __init__(self, *, width: int, height: int, limit: int):
        super().__init__(
            f"The result would be {width}×{height} pixels, over the {megapixels(limit)} limit. "
            "Start from a smaller photo or a smaller factor."
        )


class OperationFailedError(MediaError):
    code = "operation_failed"
    default_message = "The operation could not be applied to this photo."
