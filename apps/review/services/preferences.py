"""The owner's choice of how their own flagged images look: hidden (safe only, the default) or blurred."""

from django.utils import timezone

from apps.accounts.models import User
from apps.core.exceptions import ApplicationError
from apps.generations.models import Generation

from ..models import ImageReview


def safety_preference_set(*, user, flagged_images: str) -> None:
    choices = User.FlaggedImages
    if flagged_images not in choices.values:
        raise ApplicationError("Choose how flagged images are shown.", code="invalid_choice",
                               extra={"field": "flagged_images"})
    if user.flagged_images == flagged_images:
        return
    user.flagged_images = flagged_images
    user.save(update_fields=["flagged_images"])
    # Cards of generations with a flagged image are cached by updated_at: draw them again.
    flagged = ImageReview.objects.filter(generation__owner=user, safety_passed=False).values("generation_id")
    Generation.objects.filter(pk__in=flagged).update(updated_at=timezone.now())
