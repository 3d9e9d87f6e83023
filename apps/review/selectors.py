"""Reads of reviews: the verdict an image shows, whether it may be shown plainly, strike counts."""

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from .models import ImageReview, ModerationItem, Verdict


def is_safety_clear(image) -> bool:
    """True only if the safety judge ran on `image` and passed (or staff cleared it after a flag),
    and staff did not hide it. What a public page must check before showing an image."""
    review = ImageReview.objects.filter(image_id=getattr(image, "pk", image)).only(
        "safety_passed", "staff_approved", "staff_hidden"
    ).first()
    if review is None or review.staff_hidden:
        return False
    return review.safety_passed is True or (review.safety_passed is False and review.staff_approved)


def reviews_for_images(image_ids) -> dict:
    """{image id: ImageReview} in one query."""
    ids = [i for i in image_ids if i is not None]
    return {r.image_id: r for r in ImageReview.objects.filter(image_id__in=ids)} if ids else {}


def review_payload(review: ImageReview | None) -> dict:
    """The `review` object of an image in the API, the live stream and outgoing webhooks."""
    if review is None:
        return {"verdict": Verdict.NOT_REVIEWED.value, "nsfw_score": None, "quality_score": None,
                "withheld": False, "judges": []}
    return {
        "verdict": review.verdict, "nsfw_score": review.nsfw_score, "quality_score": review.quality_score,
        "withheld": review.withheld,
        "judges": [{"name": j["name"], "passed": j["passed"], "score": j["score"], "reason": j["reason"]}
                   for j in review.judges if j.get("reviewed", True)],
    }


def _strike_items():
    """Refused prompts (unless staff approved them) and images staff hid or deleted."""
    prompt = Q(kind=ModerationItem.Kind.PROMPT) & ~Q(state=ModerationItem.State.APPROVED)
    image = ~Q(kind=ModerationItem.Kind.PROMPT) & Q(state__in=[ModerationItem.State.HIDDEN,
                                                               ModerationItem.State.DELETED])
    return ModerationItem.objects.filter(prompt | image)


def moderation_strikes(user_id) -> int:
    return _strike_items().filter(user_id=user_id).count()


def moderation_items_with_strikes(queryset):
    """`queryset` of moderation items, each with `strike_count`: its user's strikes (one query)."""
    strikes = _strike_items().filter(user_id=OuterRef("user_id")).order_by().values("user_id").annotate(
        n=Count("pk")).values("n")
    return queryset.annotate(strike_count=Coalesce(Subquery(strikes, output_field=IntegerField()), 0))
