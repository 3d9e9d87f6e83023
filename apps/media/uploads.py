"""Reading uploaded files from requests, within the byte limit."""

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from apps.imaging.exceptions import FileTooLargeError

from .exceptions import FileRequiredError

TOO_LARGE_FLAG = "media_upload_too_large"


class BoundedUploadHandler(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS: a file part past MEDIA_MAX_UPLOAD_BYTES is dropped while it
    streams, so it is never kept in memory or written to a temporary file, and the request is
    flagged so the view answers 413 instead of "no file".

    (The front server still reads the whole body; cap it there too, e.g. nginx client_max_body_size.)
    """

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.MEDIA_MAX_UPLOAD_BYTES:
            if self.request is not None:
                setattr(self.request, TOO_LARGE_FLAG, True)
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size):
        return None


def upload_read(request, uploaded: UploadedFile | None) -> bytes:
    """The bytes of an uploaded file, or the error a person should see."""
    limit = settings.MEDIA_MAX_UPLOAD_BYTES
    if getattr(request, TOO_LARGE_FLAG, False) or (uploaded is not None and uploaded.size > limit):
        raise FileTooLargeError(limit=limit)
    if uploaded is None:
        raise FileRequiredError()
    return uploaded.read()
