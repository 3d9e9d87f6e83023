from django.conf import settings
from django.db import models
from django.utils import timezone


class EventStream(models.Model):
    """A user's event counter. Its row is locked while an event is numbered, so a user's events
    commit in the order of their ids and a reader resuming after id N never skips one."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"events of user {self.user_id} (last {self.last_id})"


class Event(models.Model):
    """One published live event, kept for a while so API clients can resume the stream
    (`GET /api/v1/events` with `Last-Event-ID`). `seq` counts up per user from 1."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()
    type = models.CharField(max_length=60)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "seq"], name="realtime_event_unique_seq")]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq}"
