"""Reads of reviews: the verdict an image shows, whether it may be shown plainly, strike counts,
pass rates."""

import statistics
from datetime import timedelta

from django.core.cache import cache
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from redis.exceptions import RedisError

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


def image_shown_as(review: ImageReview | None, owner) -> str:
    """How an image with `review` is shown to its owner: "plain", "blurred" (flagged, and the owner
    chose to see flagged images blurred) or "withheld" (flagged, or hidden by staff)."""
    if review is None or not review.withheld:
        return "plain"
    if review.staff_hidden:
        return "withheld"
    return "blurred" if getattr(owner, "flagged_images", "hide") == "blur" else "withheld"


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


PASS_RATE_MIN_REVIEWS = 20
PASS_RATE_CACHE_SECONDS = 300


def model_quality_pass_rate(slug: str, *, days: int = 30) -> float | None:
    """The share (0–1) of a catalogue model's reviewed images whose quality judge passed, over its
    last 500 reviews within `days`; None with fewer than PASS_RATE_MIN_REVIEWS. Cached a few minutes."""
    key = f"review:pass-rate:{slug}"
    try:
        cached = cache.get(key)
    except RedisError:
        cached = None
    if cached is not None:
        return None if cached < 0 else cached
    since = timezone.now() - timedelta(days=days)
    rows = (ImageReview.objects.filter(generation__catalog_model__slug=slug, created_at__gte=since,
                                       reviewed_at__isnull=False).order_by("-created_at")
            .values_list("judges", flat=True)[:500])
    decided = [bool(j["passed"]) for results in rows for j in results or []
               if j.get("name") == "quality" and j.get("reviewed", True)]
    rate = round(sum(decided) / len(decided), 3) if len(decided) >= PASS_RATE_MIN_REVIEWS else None
    try:
        cache.set(key, rate if rate is not None else -1, timeout=PASS_RATE_CACHE_SECONDS)
    except RedisError:
        pass
    return rate


def review_stats(*, days: int = 30, limit: int = 20000) -> dict:
    """Per catalogue model over the last `days`: verdicts, the quality pass rate, and for each judge
    how often it decided, passed, and its median and p95 time (the hosted judge's latency)."""
    since = timezone.now() - timedelta(days=days)
    rows = (ImageReview.objects.filter(created_at__gte=since, reviewed_at__isnull=False)
            .order_by("-created_at").values_list("generation__catalog_model__label", "verdict", "judges")[:limit])
    models: dict[str, dict] = {}
    judges: dict[tuple[str, str], dict] = {}
    for label, verdict, results in rows:
        entry = models.setdefault(label, {"model": label, "images": 0, "green": 0, "amber": 0, "red": 0,
                                          "not_reviewed": 0, "pending": 0, "quality_passed": 0, "quality_decided": 0})
        entry["images"] += 1
        entry[verdict] = entry.get(verdict, 0) + 1
        for result in results or []:
            stats = judges.setdefault((label, result["name"]), {"model": label, "judge": result["name"], "runs": 0,
                                                                "decided": 0, "passed": 0, "seconds": []})
            stats["runs"] += 1
            stats["seconds"].append(result.get("seconds", 0.0))
            if result.get("reviewed", True):
                stats["decided"] += 1
                stats["passed"] += bool(result["passed"])
                if result["name"] == "quality":
                    entry["quality_decided"] += 1
                    entry["quality_passed"] += bool(result["passed"])
    for entry in models.values():
        entry["quality_pass_rate"] = (round(entry["quality_passed"] / entry["quality_decided"], 3)
                                      if entry["quality_decided"] else None)
    judge_rows = []
    for stats in judges.values():
        seconds = sorted(stats.pop("seconds"))
        stats["pass_rate"] = round(stats["passed"] / stats["decided"], 3) if stats["decided"] else None
        stats["median_ms"] = round(statistics.median(seconds) * 1000, 1) if seconds else None
        stats["p95_ms"] = round(seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))] * 1000, 1) if seconds else None
        judge_rows.append(stats)
    return {
        "days": days,
        "models": sorted(models.values(), key=lambda e: (-e["images"], e["model"])),
        "judges": sorted(judge_rows, key=lambda s: (s["model"], s["judge"])),
    }
