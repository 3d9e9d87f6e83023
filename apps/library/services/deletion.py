"""Deleting from the library: hidden at once, restorable for LIBRARY_UNDO_SECONDS, then purged.

Purging removes the files from storage and the rows that only describe them (images, photos);
a generation's row stays, its prompt blanked, because the credits ledger names it (as "a deleted
generation"). A file is removed only when no other row still points at it: a generation served
from the result cache shares its source's files.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.generations.models import ACTIVE, Generation, GenerationImage
from apps.media.models import Kind, Upload
from apps.media.storage import file_delete

from ..exceptions import ItemNotFoundError, StillRunningError, UndoExpiredError
from ..refs import GENERATION, IMAGE, PHOTO, ItemRef


@dataclass(frozen=True)
class Deletion:
    items: tuple[ItemRef, ...]
    deleted_at: datetime
    undo_until: datetime


def undo_window() -> timedelta:
    return timedelta(seconds=settings.LIBRARY_UNDO_SECONDS)


def _locked(user, refs: list[ItemRef], *, deleted: bool) -> list[tuple[ItemRef, object]]:
    """The user's rows for `refs`, locked; any one missing (or someone else's) is a 404 for all."""
    ids = {kind: [r.id for r in refs if r.kind == kind] for kind in (GENERATION, IMAGE, PHOTO)}
    state = {"deleted_at__isnull": not deleted}
    rows = {}
    if ids[GENERATION]:
        rows |= {(GENERATION, str(g.pk)): g for g in Generation.objects.select_for_update().filter(
            owner=user, pk__in=ids[GENERATION], **state)}
    if ids[IMAGE]:
        rows |= {(IMAGE, str(i.pk)): i for i in GenerationImage.objects.select_for_update(of=("self",)).filter(
            generation__owner=user, generation__deleted_at=None, pk__in=ids[IMAGE], **state)}
    if ids[PHOTO]:
        rows |= {(PHOTO, str(u.pk)): u for u in Upload.objects.select_for_update().filter(
            owner=user, pk__in=ids[PHOTO], **state)}
    found = []
    for ref in refs:
        row = rows.get((ref.kind, ref.id))
        if row is None:
            raise ItemNotFoundError()
        found.append((ref, row))
    return found


def _touch_generations(ids) -> None:
    """A generation whose images changed shows it: its cached card and API item are keyed on updated_at."""
    if ids:
        Generation.objects.filter(pk__in=ids).update(updated_at=timezone.now())


def library_items_delete(*, user, items: list[ItemRef]) -> Deletion:
    """Hides the items at once (all or none) and schedules their purge after the undo window."""
    from ..tasks import library_purge_task

    refs = list(dict.fromkeys(items))
    now = timezone.now()
    with transaction.atomic():
        found = _locked(user, refs, deleted=False)
        for ref, row in found:
            if ref.kind == GENERATION and row.status in ACTIVE:
                raise StillRunningError()
        for kind, model in ((GENERATION, Generation), (IMAGE, GenerationImage), (PHOTO, Upload)):
            pks = [row.pk for ref, row in found if ref.kind == kind]
            if pks:
                model.objects.filter(pk__in=pks).update(deleted_at=now)
        photos = [row.pk for ref, row in found if ref.kind == PHOTO]
        if photos:  # a photo's masks go with it
            Upload.objects.filter(owner=user, kind=Kind.MASK, source_id__in=photos, deleted_at=None).update(deleted_at=now)
        _touch_generations({row.generation_id for ref, row in found if ref.kind == IMAGE})
        countdown = settings.LIBRARY_UNDO_SECONDS + 1
        for ref in refs:
            transaction.on_commit(
                lambda ref=ref: library_purge_task.apply_async(kwargs={"kind": ref.kind, "item_id": ref.id},
                                                               countdown=countdown),
                robust=True,
            )
    return Deletion(items=tuple(refs), deleted_at=now, undo_until=now + undo_window())


def library_items_restore(*, user, items: list[ItemRef]) -> int:
    """Undo: within the window the items come back as they were; after it, 409 undo_expired."""
    refs = list(dict.fromkeys(items))
    cutoff = timezone.now() - undo_window()
    with transaction.atomic():
        found = _locked(user, refs, deleted=True)
        if any(row.deleted_at < cutoff for _, row in found):
            raise UndoExpiredError()
        for ref, row in found:
            if ref.kind == PHOTO:
                Upload.objects.filter(kind=Kind.MASK, source_id=row.pk, deleted_at=row.deleted_at).update(deleted_at=None)
            type(row).objects.filter(pk=row.pk).update(deleted_at=None)
        _touch_generations({row.generation_id for ref, row in found if ref.kind == IMAGE})
    return len(found)


def _files(*rows) -> set[str]:
    return {path for row in rows for path in (row.file, row.preview, row.thumbnail) if path}


def _remove_unshared(paths: set[str]) -> None:
    """After commit: delete the files no remaining image or upload row points at."""
    from django.db.models import Q

    def remove():
        still = Q(file__in=paths) | Q(preview__in=paths) | Q(thumbnail__in=paths)
        used = set()
        for model in (GenerationImage, Upload):
            for row in model.objects.filter(still).values_list("file", "preview", "thumbnail"):
                used.update(row)
        for path in sorted(paths - used):
            file_delete(path)

    if paths:
        transaction.on_commit(remove)


def library_purge(*, kind: str, item_id: str, force: bool = False) -> bool:
    """Removes a deleted item's files and content once its undo window has passed. Safe to run
    twice; False if it is not (or no longer) due: restored, too early, or already purged."""
    cutoff = timezone.now() - undo_window()
    with transaction.atomic():
        if kind == GENERATION:
            generation = Generation.objects.select_for_update().filter(pk=item_id, deleted_at__isnull=False).first()
            if generation is None or (generation.deleted_at > cutoff and not force):
                return False
            images = list(GenerationImage.objects.filter(generation=generation))
            GenerationImage.objects.filter(generation=generation).delete()
            Generation.objects.filter(pk=generation.pk).update(prompt="", negative_prompt="", updated_at=timezone.now())
            _remove_unshared(_files(*images))
            return bool(images) or bool(generation.prompt)
        if kind == IMAGE:
            image = GenerationImage.objects.select_for_update().filter(pk=item_id, deleted_at__isnull=False).first()
            if image is None or (image.deleted_at > cutoff and not force):
                return False
            image.delete()
            _remove_unshared(_files(image))
            return True
        upload = Upload.objects.select_for_update().filter(pk=item_id, deleted_at__isnull=False).first()
        if upload is None or (upload.deleted_at > cutoff and not force):
            return False
        masks = list(Upload.objects.filter(kind=Kind.MASK, source=upload, deleted_at__isnull=False))
        Upload.objects.filter(pk__in=[upload.pk, *[m.pk for m in masks]]).delete()
        _remove_unshared(_files(upload, *masks))
        return True


def library_purge_due(*, limit: int = 200) -> int:
    """Purges what is past its window and still here (a countdown lost with a worker): the beat's net."""
    cutoff = timezone.now() - undo_window()
    due = [
        *((GENERATION, pk) for pk in Generation.objects.filter(deleted_at__lt=cutoff).exclude(prompt="")
          .values_list("pk", flat=True)[:limit]),
        *((GENERATION, pk) for pk in Generation.objects.filter(deleted_at__lt=cutoff, prompt="", images__isnull=False)
          .values_list("pk", flat=True).distinct()[:limit]),
        *((IMAGE, pk) for pk in GenerationImage.objects.filter(deleted_at__lt=cutoff).values_list("pk", flat=True)[:limit]),
        *((PHOTO, pk) for pk in Upload.objects.filter(deleted_at__lt=cutoff).exclude(kind=Kind.MASK, source__deleted_at__isnull=False)
          .values_list("pk", flat=True)[:limit]),
    ]
    return sum(library_purge(kind=kind, item_id=str(pk)) for kind, pk in due)
