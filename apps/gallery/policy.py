"""What may be public: the one gate every way of publishing an image goes through.

At merge this asks the trust layer (`apps.review.selectors.is_safety_clear(image)`); until then an
image is clear when its generation succeeded — a provider's safety block ends a generation
`rejected`, and a flagged output never becomes a stored image.
"""

from apps.generations.models import Status


def can_be_public(image) -> bool:
    return image.generation.status == Status.SUCCEEDED
