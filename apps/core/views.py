import mimetypes
import re

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from .files import signed_file_path


@require_GET
def file_view(request, token: str):
    path = signed_file_path(token)
    if path is None or not default_storage.exists(path):
        raise Http404("This link has expired or does not exist.")
    # `?download=<name>`: save it under that name (a browser prefers this header to a link's
    # `download` attribute). The name is only a label for the reader's own copy.
    download = _download_name(request.GET.get("download", ""), path)
    disposition = content_disposition_header(True, download) if download else None
    if hasattr(default_storage, "bucket_name"):
        # Object storage serves the bytes itself through its own presigned link.
        if disposition:
            return HttpResponseRedirect(default_storage.url(path, parameters={"ResponseContentDisposition": disposition}))
        return HttpResponseRedirect(default_storage.url(path))
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = _range_response(request, path, content_type) or FileResponse(
        default_storage.open(path, "rb"), content_type=content_type
    )
    if disposition:
        response["Content-Disposition"] = disposition
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = f"private, max-age={settings.FILE_URL_TTL // 4}"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _download_name(name: str, path: str) -> str:
    """A safe file name for a download: no folders or control characters, the stored file's extension."""
    name = re.sub(r"[\x00-\x1f\x7f/\\]+", " ", name).strip(" .")[:150]
    if not name:
        return ""
    extension = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    if extension and not name.lower().endswith(f".{extension}"):
        name = f"{name}.{extension}"
    return name


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# An open-ended range ("bytes=0-", a player starting) gets at most this much; it asks for more.
OPEN_RANGE_CHUNK = 4 * 1024 * 1024


def _range_response(request, path: str, content_type: str) -> HttpResponse | None:
    """One byte range (`Range: bytes=a-b`), as video players ask to seek; None for the whole file."""
    match = _RANGE.match(request.headers.get("Range", "").strip())
    if not match or match.groups() == ("", ""):
        return None
    size = default_storage.size(path)
    first, last = match.groups()
    if first == "":  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else min(size - 1, start + OPEN_RANGE_CHUNK - 1)
    if start >= size or start > end:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    with default_storage.open(path, "rb") as file:
        file.seek(start)
        content = file.read(end - start + 1)
    response = HttpResponse(content, status=206, content_type=content_type)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response
