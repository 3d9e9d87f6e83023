"""A generation's live card: every GenerationProgressed and GenerationFinished becomes one message on
its owner's live stream (`generation.progress`, or `generation.<status>` at the end) carrying the
card, and the balance when credits moved.

Subscribed in the emitting transaction, so the message carries the state of the change that emitted
it (read under the service's row lock) and is queued in emission order; realtime sends it only once
that transaction commits, and the card is drawn then, with no lock held.
"""

import base64

from django.template.loader import render_to_string

from apps.core import events
from apps.credits import selectors as credits_selectors
from apps.realtime.publish import publish_to_user

from .models import Generation, Status
from .services.state import generation_announced


def subscribe() -> None:
    events.subscribe(events.GenerationProgressed, generation_live_publish, in_transaction=True)
    events.subscribe(events.GenerationFinished, generation_live_publish, in_transaction=True)


def generation_live_publish(event: events.GenerationProgressed | events.GenerationFinished) -> None:
    # The emitting service's own copy when it has one (no second read of the row it just wrote).
    generation = generation_announced(event.generation_id) or (
        Generation.objects.select_related("catalog_model").filter(pk=event.generation_id).first()
    )
    if generation is None:
        return
    preview = getattr(event, "preview", None)
    balance_too = generation.status == Status.QUEUED or not generation.is_active

    def html() -> str:
        # Credits moved (held on submit, charged or returned at the end): refresh the header too.
        card = _card_html(generation, preview=preview)
        if balance_too:
            balance = credits_selectors.credits_balance_get(user=generation.owner_id)
            card += render_to_string("_balance.html", {"credit_balance": balance, "oob": True})
        return card

    def published() -> None:
        generation_published(generation.pk, generation)

    publish_to_user(
        user_id=generation.owner_id, event=_event_name(generation), data=_event_data(generation), html=html,
        on_delivered=None if generation.is_active else published,
    )


def _event_name(generation: Generation) -> str:
    return "generation.progress" if generation.is_active else f"generation.{generation.status}"


def _card_html(generation: Generation, *, preview: bytes | None = None) -> str:
    preview_url = f"data:image/jpeg;base64,{base64.b64encode(preview).decode()}" if preview else None
    return render_to_string(
        "generations/_card.html", {"generation": generation, "preview_url": preview_url, "oob": True}
    )


def _event_data(generation: Generation) -> dict:
    return {
        "id": str(generation.id),
        "status": generation.status,
        "progress": round(generation.progress, 4),
        "revision": generation.revision,
        "error_code": generation.error_code or None,
        "error_message": generation.error_message or None,
    }


def generation_published(generation_id, generation: Generation | None = None) -> None:
    """The final event is out: close the phase timings with it and, for a job that ran, the
    overhead — our share of submit → final event, i.e. minus the provider's own reported time.

    One conditional UPDATE, no lock: after the end nothing else writes the timings, and a second
    delivery finds `event_published` already there and changes nothing."""
    if generation is None:
        generation = Generation.objects.only("id", "created_at", "timings", "predict_seconds").filter(
            pk=generation_id
        ).first()
        if generation is None:
            return
    if "event_published" in (generation.timings or {}):
        return
    generation.timing_mark("event_published")
    timings = generation.timings
    if "provider_end" in timings and generation.predict_seconds is not None:
        timings["overhead"] = round(timings["event_published"] - generation.predict_seconds, 4)
    Generation.objects.filter(pk=generation_id).exclude(timings__has_key="event_published").update(
        timings=timings
    )
