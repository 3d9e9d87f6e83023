"""What may be public: the one gate every way of publishing an image goes through — its generation
succeeded and the trust layer's safety judge cleared it (`apps.review.selectors.is_safety_clear`:
judged and passed, or cleared by staff after a flag, and not hidden by staff)."""

from apps.generations.models import Status
from apps.review.selectors import is_safety_clear


def can_be_public(image) -> bool:
    return image.generation.status == Status.SUCCEEDED and is_safety_clear(image)
