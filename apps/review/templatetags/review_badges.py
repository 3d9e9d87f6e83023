"""What a card shows of the review: one badge for the generation (its worst verdict) whose popover
lists each judge's reason, and whether each image is withheld or blurred for its owner."""

from django import template
from django.db.models import Q

from ..models import Verdict
from ..registry import judges
from ..selectors import image_shown_as

register = template.Library()

LABELS = {
    Verdict.GREEN: "Looks good", Verdict.AMBER: "Worth a look", Verdict.RED: "Problems found",
    Verdict.PENDING: "Checking…", Verdict.NOT_REVIEWED: "Not reviewed",
}
_ORDER = [Verdict.RED, Verdict.AMBER, Verdict.PENDING, Verdict.GREEN, Verdict.NOT_REVIEWED]


def _review(image):
    try:
        return image.review
    except Exception:  # RelatedObjectDoesNotExist: made before reviews, or not reviewed yet
        return None


def _label(name: str) -> str:
    return judges.get(name).label if name in judges else name.capitalize()


@register.simple_tag
def review_summary(generation, images) -> dict | None:
    reviews = [(image, _review(image)) for image in images]
    if not any(review for _, review in reviews):
        return None
    verdicts = {review.verdict if review else Verdict.NOT_REVIEWED for _, review in reviews}
    verdict = next(v for v in _ORDER if v in verdicts)
    return {
        "verdict": verdict, "label": LABELS[Verdict(verdict)], "several": len(reviews) > 1,
        "images": [
            {"number": image.index + 1,
             "judges": [{**j, "label": _label(j["name"])} for j in (review.judges if review else [])
                        if j.get("reviewed", True)]}
            for image, review in reviews
        ],
    }


@register.filter
def shown_as(image, owner) -> str:
    """"plain", "blurred" or "withheld" (see `image_shown_as`)."""
    return image_shown_as(_review(image), owner)


@register.simple_tag
def review_attempts(generation) -> dict:
    """The other attempt of a red generation made again: {"again": replacement link or None,
    "first": original link or None}."""
    from ..models import Regeneration

    links = Regeneration.objects.filter(Q(original=generation) | Q(replacement=generation))
    again = next((link for link in links if link.original_id == generation.pk), None)
    first = next((link for link in links if link.replacement_id == generation.pk), None)
    return {"again": again, "first": first}


@register.simple_tag
def node_verdict(node) -> str:
    """A workflow step's outputs' verdict (the worst): from a review step's own findings, or the
    reviews of the images a generation step made. "" when none were reviewed."""
    from ..models import ImageReview

    if not node.outputs:
        return ""
    if isinstance(node.meta, dict) and node.meta.get("verdict"):
        return node.meta["verdict"]
    ids = [ref.get("generation_image_id") for value in node.outputs.values() if isinstance(value, list)
           for ref in value if isinstance(ref, dict) and ref.get("generation_image_id")]
    verdicts = set(ImageReview.objects.filter(image_id__in=ids).values_list("verdict", flat=True)) if ids else set()
    return next((v for v in _ORDER if v in verdicts), "")
