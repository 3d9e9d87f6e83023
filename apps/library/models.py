"""Stars, collections and data exports. Deletion itself is a `deleted_at` on the generation,
image and upload rows (their apps' models); the services here set and clear it."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import BaseModel

# An item of the library is one of these: a generated image (or clip) or a photo (an upload).
ONE_TARGET = Q(image__isnull=False, upload__isnull=True) | Q(image__isnull=True, upload__isnull=False)


class Star(BaseModel):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stars")
    image = models.ForeignKey(
        "generations.GenerationImage", null=True, blank=True, on_delete=models.CASCADE, related_name="stars"
    )
    upload = models.ForeignKey("media.Upload", null=True, blank=True, on_delete=models.CASCADE, related_name="stars")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=ONE_TARGET, name="star_one_target"),
            models.UniqueConstraint(fields=["owner", "image"], condition=Q(image__isnull=False), name="star_unique_image"),
            models.UniqueConstraint(
                fields=["owner", "upload"], condition=Q(upload__isnull=False), name="star_unique_upload"
            ),
        ]


class Collection(BaseModel):
    """A board: images from generations, photos and workflow outputs, in the owner's order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections")
    name = models.CharField(max_length=100)
    is_public = models.BooleanField(
        default=False, help_text="Listed on the owner's artist page, showing only its publicly shared images."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at", "-id"], name="collection_owner_newest")]

    def __str__(self) -> str:
        return self.name


class CollectionItem(BaseModel):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey(
        "generations.GenerationImage", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    upload = models.ForeignKey("media.Upload", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=ONE_TARGET, name="collection_item_one_target"),
            models.UniqueConstraint(
                fields=["collection", "image"], condition=Q(image__isnull=False), name="collection_item_unique_image"
            ),
            models.UniqueConstraint(
                fields=["collection", "upload"], condition=Q(upload__isnull=False), name="collection_item_unique_upload"
            ),
        ]


class DataExport(BaseModel):
    """A zip of every file the user has plus a JSON description, built by a task."""

    class Status(models.TextChoices):
        PENDING = "pending", "Being prepared"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_exports")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    file = models.CharField(max_length=300, blank=True, help_text="Storage path of the zip.")
    size_bytes = models.PositiveBigIntegerField(default=0)
    files_count = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One export at a time per person: a second click while one is built finds the first.
            models.UniqueConstraint(fields=["owner"], condition=Q(status="pending"), name="data_export_one_pending"),
        ]


class AccountDeletion(BaseModel):
    """A person asked for their account to be deleted. The task removes their files and personal
    data; the user row stays, anonymised and inactive, because the credits ledger points at it."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    finished_at = models.DateTimeField(null=True, blank=True)
