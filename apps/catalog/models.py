import math

from django.db import models

from apps.core.models import BaseModel
from apps.providers.types import Route


class CatalogModel(BaseModel):
    """A model people can pick. Its public face is slug/label/description; the rest is routing."""

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        VIDEO = "video", "Video"

    slug = models.SlugField(unique=True)
    label = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.IMAGE)
    # What it does: text-to-image, image-to-image, inpaint, reference, upscale, remove-background,
    # face-swap (the photo as the image, the face as the one reference), edit (instructions in
    # words: "make the mug blue"), image-to-video, text-to-video.
    capabilities = models.JSONField(default=list)
    # Same request and seed, same pixels: identical requests may reuse stored results.
    deterministic = models.BooleanField(default=False)
    # Internal, never shown: [{provider, model, ...options}] tried in order (the fallback chain).
    routes = models.JSONField(default=list)
    aspect_ratios = models.JSONField(default=list)
    max_images = models.PositiveSmallIntegerField(default=1)
    supports_negative_prompt = models.BooleanField(default=False)
    supports_seed = models.BooleanField(default=True)
    tiers = models.JSONField(default=list, help_text="[{key, label, area, price}] — price is credits per image.")
    is_enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(
        max_length=200, blank=True, help_text="Shown to users beside the model while it is disabled."
    )
    coming_soon = models.BooleanField(
        default=False, help_text="Listed but not offered yet: shown to users as coming soon."
    )
    coming_soon_note = models.CharField(
        max_length=200, blank=True, help_text="Shown beside “coming soon”, e.g. “Later this month”."
    )
    # Catalogue-file fields staff changed in the admin: `catalog_load` leaves them as staff set them.
    staff_overrides = models.JSONField(default=list, blank=True)
    sort_order = models.PositiveIntegerField(default=100)
    typical_seconds = models.PositiveIntegerField(default=10, help_text="Expected run time, for estimated progress.")
    deadline_seconds = models.PositiveIntegerField(default=300, help_text="Past this a generation fails, refunded.")

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
    def route_list(self) -> list[Route]:
        """The routes in use, in order (staff may switch one off with `enabled = false`)."""
        return [
            Route(provider=r["provider"], model=r["model"],
                  options={k: v for k, v in r.items() if k not in ("provider", "model", "enabled")})
            for r in self.routes if r.get("enabled", True)
        ]

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def needs_image(self) -> bool:
        return not (self.can("text-to-image") or self.can("text-to-video"))

    @property
    def default_aspect_ratio(self) -> str:
        return self.aspect_ratios[0] if self.aspect_ratios else "1:1"


def dimensions_for(*, aspect_ratio: str, area: int) -> tuple[int, int]:
    """Pixel size for an aspect ratio at a pixel budget, on a 16-pixel grid."""
    w, h = (int(part) for part in aspect_ratio.split(":"))
    width = math.sqrt(area * w / h)
    height = width * h / w
    return max(16, round(width / 16) * 16), max(16, round(height / 16) * 16)


def _ratio_value(aspect_ratio: str) -> float:
    w, h = (int(part) for part in aspect_ratio.split(":"))
    return w / h


def nearest_aspect_ratio(aspect_ratio: str, choices: list[str]) -> str:
    """The choice closest in shape, compared on a log scale so 2:1 and 1:2 are equally far from 1:1."""
    target = math.log(_ratio_value(aspect_ratio))
    return min(choices, key=lambda choice: abs(math.log(_ratio_value(choice)) - target))


class PromptPreset(BaseModel):
    """A style people pick as a chip on the Generate page. Staff manage it; every change of what it
    does is a new PromptPresetVersion, and each generation records the version it used."""

    slug = models.SlugField(unique=True)
    label = models.CharField(max_length=60)
    description = models.CharField(max_length=200, blank=True, help_text="Shown to users as the chip's hint.")
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["sort_order", "label"]
        verbose_name = "prompt preset"

    def __str__(self) -> str:
        return self.label

    @property
    def current(self) -> "PromptPresetVersion | None":
        return self.versions.order_by("-number").first()


class PromptPresetVersion(BaseModel):
    """What a preset did at one time: immutable once saved."""

    preset = models.ForeignKey(PromptPreset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    template = models.TextField(help_text="The prompt sent: {prompt} is replaced by the user's words.")
    negative_prompt = models.TextField(blank=True, help_text="Added to the user's, for models that take one.")
    aspect_ratio = models.CharField(max_length=10, blank=True, help_text="Used when the user picks none.")
    model_hints = models.JSONField(default=list, blank=True, help_text="Model slugs Auto prefers with it.")
    created_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["preset", "-number"]
        constraints = [models.UniqueConstraint(fields=["preset", "number"], name="preset_version_number_unique")]

    def __str__(self) -> str:
        return f"{self.preset.label} v{self.number}"

    def wrap(self, prompt: str, negative_prompt: str = "") -> tuple[str, str]:
        """(prompt, negative prompt) as sent: the user's words inside the template."""
        text = self.template.replace("{prompt}", prompt.strip()) if "{prompt}" in self.template else (
            f"{prompt.strip()}, {self.template}")
        negatives = ", ".join(part for part in (negative_prompt.strip(), self.negative_prompt.strip()) if part)
        return text.strip(), negatives
