import mimetypes

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.views.decorators.http import require_GET

from .files import signed_file_path


@require_GET
def file_view(request, token: str):
    path = signed_file_path(token)
    if path is None or not default_storage.exists(path):
        raise Http404("This link has expired or does not exist.")
    if hasattr(default_storage, "bucket_name"):
        # Object storage serves the bytes itself through its own presigned link.
        return HttpResponseRedirect(default_storage.url(path))
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = FileResponse(default_storage.open(path, "rb"), content_type=content_type)
    response["Cache-Control"] = f"private, max-age={settings.FILE_URL_TTL // 4}"
    response["X-Content-Type-Options"] = "nosniff"
    return response
