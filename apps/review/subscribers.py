"""What the review app does when generations end."""

from apps.core import events

from . import live, services, tasks
from .services import regenerate


def subscribe() -> None:
    from django.db.models.signals import post_delete, post_save

    from .models import BlockedTerm, ReviewPolicy

    for model in (ReviewPolicy, BlockedTerm):
        post_save.connect(services.moderation_rules_changed, sender=model,
                          dispatch_uid=f"review-rules-{model.__name__}")
        post_delete.connect(services.moderation_rules_changed, sender=model,
                            dispatch_uid=f"review-rules-del-{model.__name__}")
    events.subscribe(events.GenerationFinished, review_generation_enqueue,
                     when=lambda event: event.status == "succeeded")
    events.subscribe(events.GenerationReviewed, live.review_live_publish)
    events.subscribe(events.GenerationReviewed, review_regenerate_red, when=lambda event: event.verdict == "red")
    events.subscribe(events.GenerationFinished, review_regeneration_settle,
                     when=lambda event: event.status == "succeeded")


def review_generation_enqueue(event: events.GenerationFinished) -> None:
    """After commit: the quality judges run in the media queue while the image is already shown."""
    tasks.review_generation_task.delay(generation_id=str(event.generation_id))


def review_regeneration_settle(event: events.GenerationFinished) -> None:
    """A replacement for a red image was delivered: the first one's charge goes back."""
    regenerate.review_regeneration_settle(generation_id=event.generation_id)


def review_regenerate_red(event: events.GenerationReviewed) -> None:
    """After the red verdict's commit: made again once, when staff want that."""
    regenerate.review_regenerate_red(generation_id=event.generation_id)
