"""Sharing and the public side: shares, likes, follows and reports.

An image with no Share row is private (the default). A share is `unlisted` (anyone with its link)
or `public` (also listed on /explore and the artist's page). Making an image private again deletes
its row: its token, and every URL made from it, stops working at once; sharing again makes a new one.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.core.models import BaseModel


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private"
    UNLISTED = "unlisted", "Unlisted — anyone with the link"
    PUBLIC = "public", "Public — on Explore and your page"


PUBLIC = Q(visibility="public")


class Share(BaseModel):
    """One shared image. `created_at` is when it was last made public (or shared), which orders
    the public lists; the owner and model are copied here so each list is one index scan."""

    image = models.OneToOneField("generations.GenerationImage", on_delete=models.CASCADE, related_name="share")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shares")
    catalog_model = models.ForeignKey("catalog.CatalogModel", on_delete=models.CASCADE, related_name="+")
    visibility = models.CharField(max_length=10, choices=[c for c in Visibility.choices if c[0] != "private"])
    token = models.CharField(max_length=32, unique=True, help_text="In every URL of the share; new on each share.")
    show_prompt = models.BooleanField(default=True, help_text="Show the prompt and settings (and offer Remix).")
    allow_original = models.BooleanField(default=False, help_text="Serve the full-size original, not only previews.")
    like_count = models.PositiveIntegerField(default=0)
    # Not indexed on its own: the partial indexes below order every list (a plain index on it only
    # tempts the planner into walking all shares and filtering).
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # Partial: only public rows, so the indexes /explore and artist pages walk stay dense.
            models.Index(F("created_at").desc(), F("id").desc(), condition=PUBLIC, name="share_public_newest"),
            models.Index("catalog_model", F("created_at").desc(), F("id").desc(), condition=PUBLIC,
                         name="share_public_model_newest"),
            models.Index("owner", F("created_at").desc(), F("id").desc(), condition=PUBLIC,
                         name="share_public_owner_newest"),
            models.Index(F("like_count").desc(), F("id").desc(), condition=PUBLIC, name="share_public_top"),
        ]

    def __str__(self) -> str:
        return f"{self.get_visibility_display()} share {self.token}"

    @property
    def is_public(self) -> bool:
        return self.visibility == Visibility.PUBLIC


class Like(BaseModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likes")
    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="likes")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "share"], name="like_one_per_user_per_image")]


class Follow(BaseModel):
    follower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="following")
    followee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="followers")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_one_per_pair"),
            models.CheckConstraint(condition=~Q(follower=F("followee")), name="follow_not_self"),
        ]


class Report(BaseModel):
    """A visitor's report of a shared image, for the staff moderation queue (admin → Gallery → Reports)."""

    class Reason(models.TextChoices):
        SEXUAL = "sexual", "Sexual content"
        VIOLENCE = "violence", "Violence or gore"
        HATE = "hate", "Hate or harassment"
        ILLEGAL = "illegal", "Illegal content"
        STOLEN = "stolen", "Someone else's work or likeness"
        SPAM = "spam", "Spam"
        OTHER = "other", "Something else"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    image = models.ForeignKey("generations.GenerationImage", on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    details = models.TextField(max_length=1000, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)

    class Meta:
        ordering = ["-created_at"]
