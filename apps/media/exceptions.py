"""Media errors: each has a stable code and HTTP status; messages are safe to show.

413 means the submitted file or image is over a limit; every other refusal is 422.
"""

from apps.core.exceptions import ApplicationError


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def _megapixels(n: int) -> str:
    return f"{n / 1_000_000:g} MP"


class MediaError(ApplicationError):
    code = "invalid_image"
    http_status = 422
    default_message = "This image can't be used."


class FileRequiredError(MediaError):
    code = "file_required"
    default_message = "Attach an image file."


class EmptyFileError(MediaError):
    code = "file_empty"
    default_message = "The file is empty."


class FileTooLargeError(MediaError):
    code = "file_too_large"
    http_status = 413

    def __init__(self, *, limit: int):
        super().__init__(f"The file is too large: the limit is {_megabytes(limit)}.")


class ImageTooLargeError(MediaError):
    code = "image_too_large"
    http_status = 413

    def __init__(self, *, width: int | None = None, height: int | None = None, limit: int):
        size = f" The image is {width}×{height} pixels." if width and height else ""
        super().__init__(f"The image has too many pixels: the limit is {_megapixels(limit)}.{size}")


class UnsupportedImageError(MediaError):
    code = "unsupported_image"
    default_message = "This file is not a JPEG, PNG or WebP image."


class CorruptImageError(MediaError):
    code = "image_corrupt"
    default_message = "The image is damaged or incomplete and could not be read."


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
            f"The result would be {width}×{height} pixels, over the {_megapixels(limit)} limit. "
            "Start from a smaller photo or a smaller factor."
        )


class OperationFailedError(MediaError):
    code = "operation_failed"
    default_message = "The operation could not be applied to this photo."
