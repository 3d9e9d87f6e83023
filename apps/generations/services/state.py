"""What every generation service shares: the row lock, the save that counts revisions, notes, the
messages users read, and announcing a change on the domain-event spine."""

import copy
import threading

from django.db import transaction

from apps.core import events

from ..models import Generation

INTERNAL_ERROR_MESSAGE = "Something went wrong on our side while making this image. You were not charged."
TIMEOUT_MESSAGE = "This took too long and was stopped. You were not charged."
ALL_ROUTES_DOWN_MESSAGE = (
    "The image service is unavailable right now. Please try again later. You were not charged."
)
RESULT_UNREADABLE_MESSAGE = (
    "The image service finished but could not hand over the result. Please try again later. "
    "You were not charged."
)
SLOW_NOTE = "Taking longer than usual."


def generation_lock(generation_id) -> Generation | None:
    """The generation, row-locked until the transaction ends (None when it is gone)."""
    # Lock only the generation row: the catalogue row is shared by every job of the model. The owner
    # comes along unlocked: charging or releasing credits at the end reads it.
    return (
        Generation.objects.select_for_update(of=("self",)).select_related("catalog_model", "owner")
        .filter(pk=generation_id).first()
    )


def generation_save(generation: Generation, *fields: str) -> None:
    """Save `fields` with the status, a new revision (cards and caches key on it) and the time."""
    generation.revision += 1
    generation.save(update_fields=[*fields, "status", "revision", "updated_at"])


def generation_note(generation: Generation, text: str) -> None:
    """Add a note for the user once (saved with the next save)."""
    if text not in generation.notes:
        generation.notes = [*generation.notes, text]


def generation_add_note(generation_id, text: str) -> None:
    """A note on an active generation, shown on its card at once."""
    with transaction.atomic():
        generation = generation_lock(generation_id)
        if generation is not None and generation.is_active and text not in generation.notes:
            generation_note(generation, text)
            generation_save(generation, "notes")
            announce_progress(generation)


_announcing = threading.local()


def _emit_about(generation: Generation, event: events.DomainEvent) -> None:
    _announcing.generation = generation
    try:
        events.emit(event)
    finally:
        _announcing.generation = None


def generation_announced(generation_id) -> Generation | None:
    """For in-transaction subscribers: a copy of the generation whose event is being emitted, as
    the emitting service holds it (under its row lock), so they need not read it again. None when
    that is not the one, or it was loaded with deferred fields."""
    generation = getattr(_announcing, "generation", None)
    if generation is None or str(generation.pk) != str(generation_id) or generation.get_deferred_fields():
        return None
    return copy.copy(generation)


def announce_progress(generation: Generation, *, preview: bytes | None = None) -> None:
    """An active generation changed: subscribers (the live card) see it."""
    _emit_about(generation, events.GenerationProgressed(
        user_id=generation.owner_id, generation_id=str(generation.pk), status=generation.status,
        progress=generation.progress, preview=preview,
    ))


def announce_end(generation: Generation) -> None:
    """It ended: the live card, a workflow step or batch waiting on it, webhooks."""
    _emit_about(generation, events.GenerationFinished(
        user_id=generation.owner_id, generation_id=str(generation.pk), status=generation.status,
    ))
