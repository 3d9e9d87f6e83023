"""Where an upload's files live, through Django's storage API (filesystem or any S3-compatible bucket)."""

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from opentelemetry import trace

from .models import EXTENSIONS

# A span per stored file when tracing is on (apps/ops/tracing.py); a no-op otherwise.
tracer = trace.get_tracer("darkroom.storage")


def upload_dir(*, owner_id, upload_id) -> str:
    return f"uploads/{owner_id}/{upload_id}"


def original_path(*, owner_id, upload_id, fmt: str) -> str:
    return f"{upload_dir(owner_id=owner_id, upload_id=upload_id)}/original.{EXTENSIONS[fmt]}"


def preview_path(*, owner_id, upload_id) -> str:
    return f"{upload_dir(owner_id=owner_id, upload_id=upload_id)}/preview.webp"


def thumbnail_path(*, owner_id, upload_id) -> str:
    return f"{upload_dir(owner_id=owner_id, upload_id=upload_id)}/thumb.webp"


def file_write(path: str, content: bytes) -> str:
    """Write at exactly `path`, replacing what is there: names are deterministic, so a task that
    runs twice overwrites instead of leaving a second copy."""
    with tracer.start_as_current_span("storage.write", attributes={"storage.path": path, "storage.bytes": len(content)}):
        if default_storage.exists(path):
            default_storage.delete(path)
        saved = default_storage.save(path, ContentFile(content))
    if saved != path:  # pragma: no cover - a storage that renames despite the delete
        raise RuntimeError(f"storage saved {path!r} as {saved!r}")
    return saved


def file_read(path: str) -> bytes:
    with default_storage.open(path, "rb") as handle:
        return handle.read()


def file_delete(path: str) -> None:
    if path and default_storage.exists(path):
        default_storage.delete(path)
