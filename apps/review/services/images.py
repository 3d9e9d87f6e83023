"""Reviewing output images: safety before the image is visible (`review_safety_check`, called by the
finishing path), then the other judges (`review_generation_run`, a task after GenerationFinished)."""

import logging
import time

from django.db import transaction
from django.utils import timezone

from apps.core import events
from apps.generations.models import Generation, GenerationImage, Status
from apps.media.storage import file_read

from ..contract import JudgeResult, ReviewRequest, Stage, verdict_of, verdict_worst
from ..models import ImageReview, ModerationItem, Verdict
from ..requests import image_open, review_request, task_kind
from .policy import policy_get, policy_judges, policy_limits

logger = logging.getLogger(__name__)

UNCHECKED_REASON = "The safety check could not run, so this image stays hidden until someone reviews it."
FAILED_REASON = "This check could not be completed."


def _run(judge, image, request: ReviewRequest, limits: dict) -> JudgeResult:
    started = time.perf_counter()
    try:
        return judge(image, request, limits)
    except Exception:
        logger.exception("judge failed", extra={"judge": judge.name})
        if judge.stage == Stage.SAFETY:
            return JudgeResult(name=judge.name, passed=False, score=1.0, reason=UNCHECKED_REASON,
                               seconds=time.perf_counter() - started)
        return JudgeResult(name=judge.name, passed=False, score=0.0, reason=FAILED_REASON,
                           seconds=time.perf_counter() - started, reviewed=False)


def _flag(review: ImageReview, *, reason: str) -> None:
    """An open queue item for a flagged image (one per image: the partial unique constraint)."""
    ModerationItem.objects.bulk_create(
        [ModerationItem(kind=ModerationItem.Kind.IMAGE, user_id=review.generation.owner_id, image_id=review.image_id,
                        prompt=review.generation.prompt[:4000], reason=reason[:300])],
        ignore_conflicts=True,
    )


def _safety_fields(results: list[JudgeResult]) -> dict:
    safety = [r for r in results if r.name == "safety"]
    return {
        "safety_passed": None if not safety else all(r.passed for r in safety),
        "nsfw_score": safety[0].score if safety and safety[0].reason != UNCHECKED_REASON else None,
    }


def review_safety_check(*, generation: Generation) -> None:
    """Run the safety judges on each stored output before the generation succeeds: what the user
    first sees already knows whether to withhold or blur it. Reads each image's web preview (a
    video's poster), which is all a 224 px classifier needs."""
    policy = policy_get()
    task = task_kind(generation)
    judges = [j for j in policy_judges(policy, task) if j.stage == Stage.SAFETY]
    if not judges:
        return
    limits = policy_limits(policy)
    request = ReviewRequest(prompt=generation.prompt, task=task)
    for image in GenerationImage.objects.filter(generation=generation):
        try:
            pixels = image_open(file_read(image.preview or image.thumbnail))
            results = [_run(judge, pixels, request, limits) for judge in judges]
        except Exception:
            logger.exception("safety review could not read the image", extra={"image": image.pk})
            results = [JudgeResult(name=j.name, passed=False, score=1.0, reason=UNCHECKED_REASON) for j in judges]
        review, _ = ImageReview.objects.update_or_create(
            image=image,
            defaults={"generation": generation, "task": task, "judges": [r.as_dict() for r in results],
                      "verdict": Verdict.PENDING, "reviewed_at": None,
                      "quality_score": None, **_safety_fields(results)},
        )
        if review.safety_passed is False:
            _flag(review, reason=next(r.reason for r in results if not r.passed))


def review_generation_run(*, generation_id) -> list[ImageReview]:
    """Run every judge that has not run on each image of a succeeded generation, store the verdicts
    and scores. Safe to run twice: an image already reviewed is left alone."""
    generation = Generation.objects.select_related("catalog_model", "owner").filter(
        pk=generation_id, status=Status.SUCCEEDED
    ).first()
    if generation is None:
        return []
    # A reused result has the same pixels: it takes its source's verdict (and staff's decisions).
    done = _copy_from_source(generation) if generation.cached_from_id else []
    policy = policy_get()
    task = task_kind(generation)
    judges = policy_judges(policy, task)
    limits = policy_limits(policy)
    request = None
    for image in GenerationImage.objects.filter(generation=generation).select_related("review"):
        existing = getattr(image, "review", None)
        if existing is not None and existing.reviewed_at is not None:
            continue
        already = {r["name"]: r for r in (existing.judges if existing else [])}
        if request is None:
            request = review_request(generation)
        pixels = image_open(file_read(image.preview if image.is_video else image.file))
        results = [already[j.name] if j.name in already else _run(j, pixels, request, limits).as_dict()
                   for j in judges]
        quality = next((r for r in results if r["name"] == "quality" and r["reviewed"]), None)
        safety = [r for r in results if r["name"] == "safety"]
        fields = {
            "generation": generation, "task": task, "judges": results, "verdict": verdict_of(results).value,
            "quality_score": quality["score"] if quality else None, "reviewed_at": timezone.now(),
        }
        if existing is None:
            fields["safety_passed"] = None if not safety else all(r["passed"] for r in safety)
            fields["nsfw_score"] = safety[0]["score"] if safety and safety[0]["reason"] != UNCHECKED_REASON else None
        with transaction.atomic():
            review, _ = ImageReview.objects.update_or_create(image=image, defaults=fields)
            if existing is None and review.safety_passed is False:
                _flag(review, reason=next(r["reason"] for r in safety if not r["passed"]))
        done.append(review)
    if done:
        with transaction.atomic():
            _card_changed(generation.pk)
            worst = verdict_worst([r.verdict for r in done])
            events.emit(events.GenerationReviewed(user_id=generation.owner_id, generation_id=str(generation.pk),
                                                  verdict=worst))
    return done


def review_reuse(*, generation: Generation) -> list[ImageReview]:
    """A result reused from an identical earlier request shares its files: copy their reviews —
    done or only safety-checked so far — as the reused generation is made, so its images are
    withheld or blurred from the first moment exactly as their source's are."""
    return _copy_from_source(generation)


def _copy_from_source(generation: Generation) -> list[ImageReview]:
    sources = {r.image.index: r for r in ImageReview.objects.filter(
        generation_id=generation.cached_from_id).select_related("image")}
    copies = [
        ImageReview(image=image, generation=generation, task=source.task, verdict=source.verdict,
                    judges=source.judges, nsfw_score=source.nsfw_score, quality_score=source.quality_score,
                    safety_passed=source.safety_passed, staff_approved=source.staff_approved,
                    staff_hidden=source.staff_hidden, reviewed_at=source.reviewed_at)
        for image in GenerationImage.objects.filter(generation=generation)
        if (source := sources.get(image.index)) is not None
    ]
    if not copies:
        return []
    ImageReview.objects.bulk_create(copies, ignore_conflicts=True)
    return copies


def _card_changed(generation_id) -> None:
    """Cached cards are keyed by the generation's updated_at: move it so the next page shows the badge."""
    Generation.objects.filter(pk=generation_id).update(updated_at=timezone.now())
