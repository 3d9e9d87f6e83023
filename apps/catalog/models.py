import math

from django.db import models

from apps.core.models import BaseModel


class CatalogModel(BaseModel):
    """A model people can pick. Its public face is slug/label/description; the rest is routing."""

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        VIDEO = "video", "Video"

    slug = models.SlugField(unique=True)
    label = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.IMAGE)
    adapter = models.CharField(max_length=50, help_text="Internal: the provider adapter key.")
    provider_model = models.CharField(max_length=200, help_text="Internal: the provider's own model name.")
    aspect_ratios = models.JSONField(default=list)
    max_images = models.PositiveSmallIntegerField(default=1)
    supports_negative_prompt = models.BooleanField(default=False)
    supports_seed = models.BooleanField(default=True)
    tiers = models.JSONField(default=list, help_text="[{key, label, area, price}] — price is credits per image.")
    is_enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(
        max_length=200, blank=True, help_text="Shown to users beside the model while it is disabled."
    )
    sort_order = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["sort_order", "label"]
        verbose_name = "catalogue model"

    def __str__(self) -> str:
        return self.label

    def tier(self, key: str | None) -> dict | None:
        if not self.tiers:
            return None
        if key is None:
            return self.tiers[0]
        return next((t for t in self.tiers if t["key"] == key), None)

    @property
    def default_aspect_ratio(self) -> str:
        return self.aspect_ratios[0] if self.aspect_ratios else "1:1"


def dimensions_for(*, aspect_ratio: str, area: int) -> tuple[int, int]:
    """Pixel size for an aspect ratio at a pixel budget, on a 16-pixel grid."""
    w, h = (int(part) for part in aspect_ratio.split(":"))
    width = math.sqrt(area * w / h)
    height = width * h / w
    return max(16, round(width / 16) * 16), max(16, round(height / 16) * 16)
