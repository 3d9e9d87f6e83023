"""Why an image (or a video) could not be read: each error has a stable code and HTTP status, and a
message safe to show. 413 means the bytes or the pixels are over a limit; every other refusal is 422.

Uploads and generation outputs both meet these; `apps.media.exceptions` adds the upload-only ones.
"""

from apps.core.exceptions import ApplicationError


def megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def megapixels(n: int) -> str:
    return f"{n / 1_000_000:g} MP"


class ImagingError(ApplicationError):
    code = "invalid_image"
    http_status = 422
    default_message = "This image can't be used."


class EmptyFileError(ImagingError):
    code = "file_empty"
    default_message = "The file is empty."


class FileTooLargeError(ImagingError):
    code = "file_too_large"
    http_status = 413

    def __init__(self, *, limit: int):
        super().__init__(f"The file is too large: the limit is {megabytes(limit)}.")


class ImageTooLargeError(ImagingError):
    code = "image_too_large"
    http_status = 413

    def __init__(self, *, width: int | None = None, height: int | None = None, limit: int):
        size = f" The image is {width}×{height} pixels." if width and height else ""
        super().__init__(f"The image has too many pixels: the limit is {megapixels(limit)}.{size}")


class UnsupportedImageError(ImagingError):
    code = "unsupported_image"
    default_message = "This file is not a JPEG, PNG or WebP image."


class CorruptImageError(ImagingError):
    code = "image_corrupt"
    default_message = "The image is damaged or incomplete and could not be read."
