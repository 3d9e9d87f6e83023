from .models import Event, EventStream


def event_latest_id(*, user_id) -> int:
    return EventStream.objects.filter(pk=user_id).values_list("last_id", flat=True).first() or 0


def events_after(*, user_id, after: int, limit: int = 100) -> list[Event]:
    """The user's stored events with an id above `after`, oldest first."""
    return list(Event.objects.filter(user_id=user_id, seq__gt=after).order_by("seq")[:limit])
