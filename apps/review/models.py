from django.conf import settings
from django.db import models

from apps.core.models import BaseModel


class ReviewPolicy(BaseModel):
    """The staff's settings for the trust layer: one row (made with the defaults on first use)."""

    thresholds = models.JSONField(
        default=dict, blank=True,
        help_text="Overrides of the judges' thresholds, e.g. {\"nsfw_max\": 0.6, \"quality_min\": 0.45}. "
                  "Keys left out keep their defaults (see the review app's README).",
    )
    judges_by_task = models.JSONField(
        default=dict, blank=True,
        help_text="Judges to run per task kind, e.g. {\"text-to-image\": [\"safety\", \"format\", \"quality\"]}. "
                  "Task kinds left out keep their defaults.",
    )
    regenerate_on_red = models.BooleanField(
        default=True, help_text="Make a red image again once, with a new seed, without charging twice."
    )
    use_word_list = models.BooleanField(
        default=True, help_text="Refuse prompts with words from the maintained profanity word list."
    )
    allowed_words = models.TextField(
        blank=True, help_text="Comma-separated words of that list to allow (besides the built-in ones, "
                              "such as kill, hell, god, gay, queer).",
    )

    class Meta:
        verbose_name = "review policy"
        verbose_name_plural = "review policy"

    def __str__(self) -> str:
        return "Review policy"


class BlockedTerm(BaseModel):
    """A word or phrase (or a regular expression) that refuses a prompt before any provider call."""

    text = models.CharField(max_length=200)
    is_pattern = models.BooleanField(default=False, help_text="A regular expression (case-insensitive).")
    active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True, help_text="Why it is blocked (staff only).")

    class Meta:
        ordering = ["text"]
        constraints = [models.UniqueConstraint(fields=["text", "is_pattern"], name="blocked_term_unique")]

    def __str__(self) -> str:
        return f"/{self.text}/" if self.is_pattern else self.text


class Verdict(models.TextChoices):
    GREEN = "green", "Green"
    AMBER = "amber", "Amber"
    RED = "red", "Red"
    PENDING = "pending", "Pending"
    NOT_REVIEWED = "not_reviewed", "Not reviewed"


class ImageReview(BaseModel):
    """The judges' findings on one output image. Safety is written before the image is visible;
    the quality judges' results are added when they finish."""

    image = models.OneToOneField("generations.GenerationImage", on_delete=models.CASCADE, related_name="review")
    generation = models.ForeignKey("generations.Generation", on_delete=models.CASCADE, related_name="reviews")
    task = models.CharField(max_length=30)
    verdict = models.CharField(max_length=20, choices=Verdict.choices, default=Verdict.PENDING, db_index=True)
    judges = models.JSONField(default=list, blank=True)
    nsfw_score = models.FloatField(null=True, blank=True)
    quality_score = models.FloatField(null=True, blank=True)
    # None: the safety judge did not run for this task; False: flagged (or it could not run).
    safety_passed = models.BooleanField(null=True, blank=True)
    staff_approved = models.BooleanField(default=False, help_text="Staff looked and cleared a flagged image.")
    staff_hidden = models.BooleanField(default=False, help_text="Staff hid it from everyone but staff.")
    reviewed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.verdict} · image {self.image_id}"

    @property
    def withheld(self) -> bool:
        """Not to be shown plainly: flagged by safety (and not cleared by staff), or hidden by staff."""
        return self.staff_hidden or (self.safety_passed is False and not self.staff_approved)


class ModerationItem(BaseModel):
    """Something for staff to look at: a refused prompt, a flagged image or an image someone reported."""

    class Kind(models.TextChoices):
        PROMPT = "prompt", "Refused prompt"
        IMAGE = "image", "Flagged image"
        REPORT = "report", "Reported image"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        APPROVED = "approved", "Approved"
        HIDDEN = "hidden", "Hidden"
        DELETED = "deleted", "Deleted"

    kind = models.CharField(max_length=10, choices=Kind.choices, db_index=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="moderation_items")
    image = models.ForeignKey("generations.GenerationImage", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="moderation_items")
    prompt = models.TextField(blank=True)
    reason = models.CharField(max_length=300)
    matched = models.CharField(max_length=200, blank=True, help_text="The blocked term or pattern that matched.")
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open flag per image and kind: a second safety run or report adds nothing.
            models.UniqueConstraint(fields=["image", "kind"], condition=models.Q(state="open"),
                                    name="moderation_item_one_open_per_image"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.user}"


class ModerationAction(BaseModel):
    """The audit trail: every staff decision on a moderation item."""

    item = models.ForeignKey(ModerationItem, on_delete=models.CASCADE, related_name="actions")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor} on {self.item_id}"


class Regeneration(BaseModel):
    """A red generation made again once, with a new seed: the original's charge is returned when the
    replacement is delivered, so the user pays once. Both stay in the history."""

    original = models.OneToOneField("generations.Generation", on_delete=models.CASCADE, related_name="regeneration")
    replacement = models.OneToOneField("generations.Generation", on_delete=models.CASCADE,
                                       related_name="regeneration_of")
    reason = models.CharField(max_length=300)
    refunded_credits = models.PositiveIntegerField(default=0)
    refunded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.original_id} → {self.replacement_id}"
