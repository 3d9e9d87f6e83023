from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from apps.generations import services as generation_services
from apps.generations.models import Generation, GenerationImage
from apps.media.models import Upload
from tests.generations.factories import GenerationFactory
from tests.media.factories import UploadFactory


@pytest.fixture
def make_generation(catalog, django_capture_on_commit_callbacks):
    """A succeeded generation of the offline engine, its files in storage."""

    def make(owner, prompt="a lighthouse at dusk", num_images=1, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            generation = GenerationFactory(owner=owner, prompt=prompt, num_images=num_images, **fields)
        generation_services.generation_run(generation_id=generation.id) if Generation.objects.get(
            pk=generation.pk).status != "succeeded" else None
        generation = Generation.objects.get(pk=generation.pk)
        assert generation.status == "succeeded", generation.error_message
        return generation

    return make


@pytest.fixture
def make_photo(db, django_capture_on_commit_callbacks):
    def make(owner, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            upload = UploadFactory(owner=owner, **fields)
        return Upload.objects.get(pk=upload.pk)

    return make


def files_of(*rows) -> list[str]:
    return sorted(p for row in rows for p in (row.file, row.preview, row.thumbnail) if p)


def exists(path: str) -> bool:
    return default_storage.exists(path)


def past_window(*rows) -> None:
    """Moves the rows' deletion back beyond the undo window."""
    earlier = timezone.now() - timedelta(seconds=3600)
    for row in rows:
        type(row).objects.filter(pk=row.pk).update(deleted_at=earlier)


def images(generation) -> list[GenerationImage]:
    return list(GenerationImage.objects.filter(generation=generation).order_by("index"))


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Runs a call and then its on-commit work (file removal), as a real commit would."""

    def run(function, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            result = function(**kwargs)
        return result

    return run
