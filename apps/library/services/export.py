"""Data export: a zip of every file the user has (generated images and clips, photos, masks,
references) and `darkroom.json` describing them, built by a task into storage."""

import json
import logging
import tempfile
import zipfile
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from apps.core.files import signed_file_url
from apps.credits.models import LedgerEntry
from apps.generations.models import Generation
from apps.media.models import Upload
from apps.media.storage import file_delete

from ..exceptions import ExportPendingError
from ..models import Collection, DataExport, Star

logger = logging.getLogger(__name__)


def download_name(prompt: str, short_id: str, extension: str) -> str:
    """`a-red-fox-asleep-in-deep-snow-3f2a9c1b.png`: the prompt (about 40 characters) and an id."""
    slug = slugify(prompt or "")[:40].strip("-") or "darkroom"
    return f"{slug}-{short_id}.{extension}"


def export_path(export: DataExport) -> str:
    return f"exports/{export.owner_id}/{export.id}.zip"


def data_export_request(*, user, notify: bool = True) -> DataExport:
    """One at a time: asking again while one is built answers 409 export_pending. With `notify`
    the link is e-mailed when the zip is ready."""
    from ..tasks import data_export_build_task

    try:
        with transaction.atomic():
            export = DataExport.objects.create(owner=user)
            transaction.on_commit(
                lambda: data_export_build_task.delay(export_id=str(export.id), notify=notify), robust=True)
    except IntegrityError:
        raise ExportPendingError() from None
    return export


def _extension(path: str) -> str:
    return path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else "bin"


def _manifest_and_files(user) -> tuple[dict, list[tuple[str, str]]]:
    files: list[tuple[str, str]] = []  # (name in the zip, storage path)
    names: dict[tuple[str, object], str] = {}
    stars_images = set(Star.objects.filter(owner=user, image__isnull=False).values_list("image_id", flat=True))
    stars_uploads = set(Star.objects.filter(owner=user, upload__isnull=False).values_list("upload_id", flat=True))
    generations = []
    queryset = Generation.objects.filter(owner=user, deleted_at=None).select_related("catalog_model").order_by("created_at")
    for generation in queryset.prefetch_related("images"):
        images = []
        for image in generation.images.all():
            if image.deleted_at:
                continue
            name = "generations/" + download_name(generation.prompt, f"{str(generation.id)[:8]}-{image.index + 1}",
                                                  _extension(image.file))
            files.append((name, image.file))
            names[("image", image.pk)] = name
            images.append({"file": name, "width": image.width, "height": image.height, "sha256": image.sha256,
                           "content_type": image.content_type, "starred": image.pk in stars_images})
        generations.append({
            "id": str(generation.id), "created_at": generation.created_at.isoformat(), "status": generation.status,
            "model": generation.catalog_model.label, "prompt": generation.prompt,
            "negative_prompt": generation.negative_prompt, "seed": generation.seed, "params": generation.params,
            "credits_charged": generation.charged_credits, "images": images,
        })
    uploads = []
    for upload in Upload.objects.filter(owner=user, deleted_at=None).order_by("created_at"):
        name = f"photos/{upload.kind}-{str(upload.id)[:8]}.{upload.extension}"
        files.append((name, upload.file))
        names[("upload", upload.pk)] = name
        uploads.append({"id": str(upload.id), "kind": upload.kind, "file": name, "original_name": upload.original_name,
                        "width": upload.width, "height": upload.height, "sha256": upload.sha256,
                        "made_by": upload.operation or None, "from": str(upload.source_id) if upload.source_id else None,
                        "created_at": upload.created_at.isoformat(), "starred": upload.pk in stars_uploads})
    collections = [
        {"name": c.name, "created_at": c.created_at.isoformat(), "items": [
            names.get(("image", i.image_id) if i.image_id else ("upload", i.upload_id)) for i in c.items.all()
            if names.get(("image", i.image_id) if i.image_id else ("upload", i.upload_id))
        ]}
        for c in Collection.objects.filter(owner=user).prefetch_related("items").order_by("created_at")
    ]
    ledger = [
        {"at": e.created_at.isoformat(), "kind": e.kind, "amount": e.amount, "memo": e.memo,
         "generation": str(e.generation_id) if e.generation_id else None}
        for e in LedgerEntry.objects.filter(user=user).order_by("created_at", "pk")
    ]
    manifest = {
        "account": {"email": user.email, "joined": user.date_joined.isoformat()},
        "exported_at": timezone.now().isoformat(),
        "generations": generations, "photos": uploads, "collections": collections, "credits": ledger,
    }
    return manifest, files


def data_export_build(*, export_id, notify: bool = True) -> DataExport | None:
    """The task's work: safe to run twice (a finished export is left alone)."""
    with transaction.atomic():
        export = DataExport.objects.select_for_update().select_related("owner").filter(pk=export_id).first()
        if export is None or export.status != DataExport.Status.PENDING:
            return export
        try:
            _build(export)
        except Exception:
            logger.exception("data export failed", extra={"export": str(export.id)})
            export.status, export.finished_at = DataExport.Status.FAILED, timezone.now()
            export.save()
            return export
        if notify:
            transaction.on_commit(lambda: _export_mail(export))
    return export


def _build(export: DataExport) -> None:
    manifest, files = _manifest_and_files(export.owner)
    path = export_path(export)
    with tempfile.TemporaryFile() as spool:
        # Images are compressed already: stored as they are; the JSON is deflated.
        with zipfile.ZipFile(spool, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("darkroom.json", json.dumps(manifest, indent=2, ensure_ascii=False),
                             compress_type=zipfile.ZIP_DEFLATED)
            stamp = timezone.now().timetuple()[:6]
            for name, stored in files:
                with default_storage.open(stored, "rb") as source, archive.open(zipfile.ZipInfo(name, stamp), "w") as target:
                    while chunk := source.read(1024 * 1024):
                        target.write(chunk)
        size = spool.tell()
        spool.seek(0)
        file_delete(path)
        default_storage.save(path, File(spool, name=path))
    export.file, export.size_bytes, export.files_count = path, size, len(files)
    export.status, export.finished_at = DataExport.Status.READY, timezone.now()
    export.save()


def _export_mail(export: DataExport) -> None:
    page = settings.SITE_URL + reverse("accounts:export")
    link = signed_file_url(export.file, absolute=True)
    hours = max(1, settings.FILE_URL_TTL // 3600)
    send_mail(
        "Your Darkroom data export is ready",
        f"Your export ({export.files_count} files) is ready.\n\nDownload it (this link works for about "
        f"{hours} hour{'s' if hours != 1 else ''}):\n{link}\n\nOr sign in and open {page} for a fresh link. "
        f"The export is kept for {settings.LIBRARY_EXPORT_KEEP_DAYS} days.",
        None, [export.owner.email],
    )


def data_exports_expire() -> int:
    """Removes exports older than LIBRARY_EXPORT_KEEP_DAYS (file and row)."""
    cutoff = timezone.now() - timedelta(days=settings.LIBRARY_EXPORT_KEEP_DAYS)
    expired = list(DataExport.objects.filter(created_at__lt=cutoff))
    for export in expired:
        file_delete(export.file)
        export.delete()
    return len(expired)
