import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, transition

from apps.core.models import BaseModel


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    DISPATCHED = "dispatched", "Starting"
    RUNNING = "running", "Generating"
    FINISHING = "finishing", "Saving"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    REJECTED = "rejected", "Blocked"


ACTIVE = [Status.QUEUED, Status.DISPATCHED, Status.RUNNING, Status.FINISHING]
TERMINAL = [Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.REJECTED]
CANCELABLE = [Status.QUEUED, Status.DISPATCHED, Status.RUNNING]


class Generation(BaseModel):
    """One request for images, from submit to a terminal state. Each transition keeps its time."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations")
    catalog_model = models.ForeignKey("catalog.CatalogModel", on_delete=models.PROTECT, related_name="generations")
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    # aspect_ratio, tier, width, height, num_images — as validated and resolved at submit.
    params = models.JSONField(default=dict)
    seed = models.CharField(max_length=40, blank=True)
    quoted_credits = models.PositiveIntegerField()
    # Set when it succeeds: how many of the images asked for came back, and what they cost (the
    # quote for that many; the rest of the hold is released).
    images_delivered = models.PositiveSmallIntegerField(default=0)
    charged_credits = models.PositiveIntegerField(default=0)
    # What the providers billed us for it, in US dollars (estimated from the routes' costs; every
    # billed call counts, failed routes too). Written when it finishes (services/costs.py).
    provider_cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)

    status = FSMField(default=Status.QUEUED, choices=Status.choices, db_index=True)
    progress = models.FloatField(default=0)
    # Bumped on every visible change, so live clients can ignore stale messages.
    revision = models.PositiveIntegerField(default=0)
    # Internal routing: which route of the model's chain runs it, and the provider's job id.
    provider = models.CharField(max_length=50, blank=True)
    route_index = models.PositiveSmallIntegerField(default=0)
    # Times the whole route chain was down at once and the job waited for a breaker to cool down.
    outage_waits = models.PositiveSmallIntegerField(default=0)
    # While it waits out an outage: when its scheduled next attempt is due (the reaper waits for it).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Reads of its result that failed after the provider said the job finished (this provider job only).
    result_read_failures = models.PositiveSmallIntegerField(default=0)
    provider_job_id = models.CharField(max_length=200, blank=True, db_index=True)
    # Billable creates sent on routes (a create whose job was adopted after a lost answer counts
    # once; the one deliberate re-send after a lost answer counts again). See credits_reconcile.
    route_attempts = models.PositiveSmallIntegerField(default=0)
    # Creates whose answer was lost, by route attempt: {"<n>": {"provider", "model", "state", "job"}},
    # state `waiting` (for its job to surface), `adopted`, `abandoned` (moved on), `canceled` (the
    # orphan that surfaced late, canceled at the provider) or `retried` (sent again: possible double cost).
    lost_answers = models.JSONField(default=dict, blank=True)
    # Things the user should know that are not errors ("taking longer than usual", an ignored field).
    notes = models.JSONField(default=list, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Identical deterministic requests share a key; a cached generation points at the one it reuses.
    cache_key = models.CharField(max_length=64, blank=True, db_index=True)
    cached_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    predict_seconds = models.FloatField(null=True, blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.CharField(max_length=300, blank=True, help_text="Shown to the user.")

    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finishing_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Phase timings in seconds since creation (queued, dispatched, provider_start, provider_end,
    # outputs_stored, derivatives_done, event_published) and the provider's own reported time.
    timings = models.JSONField(default=dict, blank=True)
    # Deleted by its owner (apps/library): hidden at once, restorable for LIBRARY_UNDO_SECONDS, then
    # its files and prompt are removed. The row stays: the credits ledger names it.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="generation_owner_newest"),
            # The deleted ones only (few): the library's purge sweep finds what is due without a scan.
            models.Index(fields=["deleted_at"], condition=models.Q(deleted_at__isnull=False), name="generation_deleted"),
        ]

    def __str__(self) -> str:
        return f"{self.prompt[:40]} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def possible_double_cost(self) -> bool:
        """A create whose answer was lost was sent again: the provider may have billed both."""
        return any(entry.get("state") == "retried" for entry in (self.lost_answers or {}).values())

    def timing_mark(self, phase: str, at=None) -> None:
        """Note when a phase was reached, in seconds since creation (saved with the next save)."""
        at = at or timezone.now()
        self.timings = {**(self.timings or {}), phase: round((at - self.created_at).total_seconds(), 4)}

    @property
    def is_cancelable(self) -> bool:
        return self.status in CANCELABLE

    @property
    def width(self) -> int:
        return self.params.get("width", 0)

    @property
    def height(self) -> int:
        return self.params.get("height", 0)

    @property
    def num_images(self) -> int:
        return self.params.get("num_images", 1)

    @property
    def is_partial(self) -> bool:
        """It succeeded with fewer images than asked for (and was charged for those only)."""
        return self.status == Status.SUCCEEDED and self.images_delivered < self.num_images

    @property
    def returned_credits(self) -> int:
        """Of the hold, what came back: the undelivered part when it succeeded, else all of it."""
        return self.quoted_credits - self.charged_credits if self.status == Status.SUCCEEDED else self.quoted_credits

    # Transitions only change state; services set the timestamps and save.
    @transition(field=status, source=Status.QUEUED, target=Status.DISPATCHED)
    def dispatch(self):
        pass

    @transition(field=status, source=[Status.QUEUED, Status.DISPATCHED], target=Status.RUNNING)
    def start(self):
        pass

    @transition(field=status, source=Status.RUNNING, target=Status.FINISHING)
    def begin_finishing(self):
        pass

    @transition(field=status, source=Status.FINISHING, target=Status.SUCCEEDED)
    def succeed(self):
        pass

    @transition(field=status, source=ACTIVE, target=Status.FAILED)
    def fail(self):
        pass

    @transition(field=status, source=CANCELABLE, target=Status.CANCELED)
    def cancel(self):
        pass

    @transition(field=status, source=ACTIVE, target=Status.REJECTED)
    def reject(self):
        pass

    # A route's output failed its checks: the job goes back to be dispatched on the next route.
    @transition(field=status, source=[Status.RUNNING, Status.FINISHING], target=Status.DISPATCHED)
    def reroute(self):
        pass


class GenerationImage(BaseModel):
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="images")
    index = models.PositiveSmallIntegerField()
    file = models.CharField(max_length=300, help_text="Storage path of the original.")
    preview = models.CharField(max_length=300, blank=True, help_text="Storage path of the WebP web preview.")
    thumbnail = models.CharField(max_length=300, help_text="Storage path of the WebP thumbnail.")
    blurhash = models.CharField(max_length=100, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=40, default="image/png", help_text="Media type of the original.")
    duration_seconds = models.FloatField(null=True, blank=True, help_text="Length of a video output.")
    # Deleted by its owner on its own (apps/library); its files are removed after the undo window.
    deleted_at = models.DateTimeField(null=True, blank=True)

    @property
    def is_video(self) -> bool:
        return self.content_type.startswith("video/")

    @property
    def format_label(self) -> str:
        """PNG, JPEG, WEBP, MP4, WEBM — for download links."""
        return self.content_type.rsplit("/", 1)[-1].upper()

    class Meta:
        ordering = ["index"]
        indexes = [
            models.Index(fields=["deleted_at"], condition=models.Q(deleted_at__isnull=False), name="generation_image_deleted"),
        ]
        constraints = [models.UniqueConstraint(fields=["generation", "index"], name="generation_image_unique_index")]
