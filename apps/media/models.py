import uuid

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel


class Kind(models.TextChoices):
    PHOTO = "photo", "Photo"
    MASK = "mask", "Mask"
    REFERENCE = "reference", "Reference"


class ImageFormat(models.TextChoices):
    JPEG = "JPEG", "JPEG"
    PNG = "PNG", "PNG"
    WEBP = "WEBP", "WebP"


EXTENSIONS = {ImageFormat.JPEG: "jpg", ImageFormat.PNG: "png", ImageFormat.WEBP: "webp"}


class Upload(BaseModel):
    """An image a user brought in (or made from one with an operation), stored cleaned.

    `file` is the re-encoded original: upright, metadata stripped. `source` links a mask to its
    photo, and an operation's result to the photo it was made from.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PHOTO)
    file = models.CharField(max_length=300, help_text="Storage path of the cleaned original.")
    format = models.CharField(max_length=8, choices=ImageFormat.choices)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True, help_text="Of the stored (cleaned) file.")
    size_bytes = models.PositiveBigIntegerField()
    original_name = models.CharField(
        max_length=200, blank=True, help_text="As the client named it; display only."
    )
    source = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="derived",
        help_text="A mask's photo, or the photo an operation's result was made from.",
    )
    operation = models.CharField(max_length=40, blank=True)
    operation_params = models.JSONField(default=dict, blank=True)
    # Derivatives, filled in by the media worker after commit.
    preview = models.CharField(max_length=300, blank=True, help_text="Storage path of the WebP web preview.")
    thumbnail = models.CharField(max_length=300, blank=True, help_text="Storage path of the WebP thumbnail.")
    blurhash = models.CharField(max_length=100, blank=True)
    derivatives_at = models.DateTimeField(null=True, blank=True)
    # Deleted by its owner (apps/library): hidden at once, its files removed after the undo window.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="upload_owner_newest"),
            models.Index(fields=["owner", "kind", "-created_at", "-id"], name="upload_owner_kind_newest"),
            # The deleted ones only (few): the library's purge sweep finds what is due without a scan.
            models.Index(fields=["deleted_at"], condition=models.Q(deleted_at__isnull=False), name="upload_deleted"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=Kind.values), name="upload_kind_valid"),
            models.CheckConstraint(
                condition=models.Q(format__in=ImageFormat.values), name="upload_format_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.width}×{self.height} ({self.id})"

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1_000_000

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]

    @property
    def display_file(self) -> str:
        """The best path to show on a page: the preview once made, else the original."""
        return self.preview or self.file

    @property
    def card_file(self) -> str:
        return self.thumbnail or self.preview or self.file
