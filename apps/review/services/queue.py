"""The staff moderation queue: reports in, decisions out, each decision audited."""

from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError, NotFoundError
from apps.generations.models import Generation, GenerationImage
from apps.media.storage import file_delete

from ..models import ImageReview, ModerationAction, ModerationItem

ACTIONS = ("approve", "hide", "delete")
_STATES = {"approve": ModerationItem.State.APPROVED, "hide": ModerationItem.State.HIDDEN,
           "delete": ModerationItem.State.DELETED}


def review_report_image(*, image: GenerationImage, reporter, reason: str) -> ModerationItem:
    """Put an image into the staff queue (a public gallery's "Report" button). Reporting an image
    already waiting for staff returns the open item instead of adding another."""
    reason = (reason or "").strip()[:300] or "Reported by a user."
    generation = Generation.objects.only("owner_id", "prompt").get(pk=image.generation_id)
    with transaction.atomic():
        ModerationItem.objects.bulk_create(
            [ModerationItem(kind=ModerationItem.Kind.REPORT, user_id=generation.owner_id, image=image,
                            prompt=generation.prompt[:4000], reason=reason, reporter=reporter)],
            ignore_conflicts=True,
        )
        return ModerationItem.objects.get(kind=ModerationItem.Kind.REPORT, image=image,
                                          state=ModerationItem.State.OPEN)


def moderation_decide(*, item_id, actor, action: str, note: str = "") -> ModerationItem:
    """Approve (clear the image), hide it from everyone but staff, or delete its files. Every
    decision is recorded (ModerationAction); deciding again changes the outcome and is recorded too."""
    if action not in ACTIONS:
        raise ApplicationError(f"Choose one of: {', '.join(ACTIONS)}.", code="invalid_action")
    with transaction.atomic():
        item = ModerationItem.objects.select_for_update().filter(pk=item_id).first()
        if item is None:
            raise NotFoundError("Moderation item not found.")
        item.state = _STATES[action]
        item.decided_by = actor
        item.decided_at = timezone.now()
        item.save(update_fields=["state", "decided_by", "decided_at", "updated_at"])
        ModerationAction.objects.create(item=item, actor=actor, action=action, note=(note or "")[:300])
        if item.image_id is not None:
            _apply_to_image(item.image_id, action)
    return item


def _apply_to_image(image_id, action: str) -> None:
    image = GenerationImage.objects.filter(pk=image_id).first()
    if image is None:
        return
    review, _ = ImageReview.objects.get_or_create(
        image=image, defaults={"generation_id": image.generation_id, "task": "", "verdict": "not_reviewed"}
    )
    review.staff_approved = action == "approve"
    review.staff_hidden = action in ("hide", "delete")
    review.save(update_fields=["staff_approved", "staff_hidden", "updated_at"])
    if action == "delete":
        # The files go; the row stays (hidden) so the generation's history and charges still add up.
        for path in {image.file, image.preview, image.thumbnail}:
            transaction.on_commit(lambda path=path: file_delete(path))
    Generation.objects.filter(pk=image.generation_id).update(updated_at=timezone.now())

