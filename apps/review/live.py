"""A reviewed generation's card, pushed to its owner: the badge appears without a reload."""

from django.template.loader import render_to_string

from apps.core import events
from apps.generations.models import Generation
from apps.realtime.publish import publish_to_user

from .selectors import review_payload, reviews_for_images


def review_live_publish(event: events.GenerationReviewed) -> None:
    """After the review's commit: the card with its badge, and the verdicts, to the owner."""
    generation_id = event.generation_id
    generation = Generation.objects.select_related("catalog_model").filter(pk=generation_id).first()
    if generation is None:
        return
    images = list(generation.images.all())
    reviews = reviews_for_images([i.pk for i in images])
    data = {"id": str(generation.id), "status": generation.status, "progress": round(generation.progress, 4),
            "revision": generation.revision,
            "images": [{"index": i.index, "review": review_payload(reviews.get(i.pk))} for i in images]}
    publish_to_user(
        user_id=generation.owner_id, event="generation.reviewed", data=data,
        html=lambda: render_to_string("generations/_card.html", {"generation": generation, "oob": True}),
    )
