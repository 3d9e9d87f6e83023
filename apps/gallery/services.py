"""Writes of the public side: sharing, likes, follows and reports."""

import secrets

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.services import profile_ensure
from apps.core.exceptions import ApplicationError, NotFoundError
from apps.generations.models import GenerationImage
from apps.review.services import review_report_image

from . import policy, selectors
from .models import Follow, Like, Report, Share, Visibility


class NotClearForPublicError(ApplicationError):
    code = "not_clear_for_public"
    http_status = 422
    default_message = "This image can't be made public: only finished images that passed the safety checks can."


class InvalidVisibilityError(ApplicationError):
    code = "invalid_visibility"
    http_status = 422
    default_message = "Choose private, unlisted or public."


class InvalidReportError(ApplicationError):
    code = "invalid_report"
    http_status = 422
    default_message = "Choose a reason for the report."


class TooManyReportsError(ApplicationError):
    code = "rate_limited"
    http_status = 429
    default_message = "Too many reports from here: try again in an hour."


class CannotFollowSelfError(ApplicationError):
    code = "cannot_follow_self"
    http_status = 422
    default_message = "You can't follow yourself."


def _owned_image(*, user, image_id) -> GenerationImage:
    """Another user's image does not exist, as far as this user can tell."""
    try:
        image = GenerationImage.objects.select_related("generation").filter(
            pk=int(image_id), generation__owner=user).first()
    except (TypeError, ValueError):
        image = None
    if image is None:
        raise NotFoundError("Image not found.")
    return image


def share_set(*, user, image_id, visibility: str, show_prompt: bool = True,
              allow_original: bool = False) -> Share | None:
    """Make one of the user's images private, unlisted or public (None once private).

    Private deletes the share, so its URLs answer 404 from the next request. Public asks the
    safety gate first. Becoming public puts it at the top of the newest lists."""
    image = _owned_image(user=user, image_id=image_id)  # first: a stranger learns nothing, not even "invalid"
    if visibility not in Visibility.values:
        raise InvalidVisibilityError()
    with transaction.atomic():
        existing = Share.objects.select_for_update().filter(image=image).first()
        if visibility == Visibility.PRIVATE:
            if existing is not None:
                existing.delete()
            return None
        if visibility == Visibility.PUBLIC and not policy.can_be_public(image):
            raise NotClearForPublicError()
        profile_ensure(user=user)
        if existing is None:
            return Share.objects.create(
                image=image, owner=user, catalog_model_id=image.generation.catalog_model_id, visibility=visibility,
                token=secrets.token_urlsafe(16), show_prompt=show_prompt, allow_original=allow_original)
        became_public = visibility == Visibility.PUBLIC and not existing.is_public
        existing.visibility, existing.show_prompt, existing.allow_original = visibility, show_prompt, allow_original
        fields = ["visibility", "show_prompt", "allow_original", "updated_at"]
        if became_public:
            existing.created_at = timezone.now()
            fields.append("created_at")
        existing.save(update_fields=fields)
        return existing


def like_set(*, user, token: str, liked: bool) -> Share:
    """Like or unlike a shared image: one like per user per image (a unique constraint), so
    a double click or a replayed request counts once."""
    share = selectors.share_get(token=token)
    with transaction.atomic():
        if liked:
            try:
                with transaction.atomic():
                    Like.objects.create(user=user, share=share)
            except IntegrityError:
                return share
            Share.objects.filter(pk=share.pk).update(like_count=F("like_count") + 1)
        else:
            deleted, _ = Like.objects.filter(user=user, share=share).delete()
            if deleted:
                Share.objects.filter(pk=share.pk, like_count__gt=0).update(like_count=F("like_count") - 1)
    share.refresh_from_db(fields=["like_count"])
    return share


def follow_set(*, user, handle: str, following: bool) -> bool:
    """Follow or unfollow an artist (one follow per pair, a unique constraint)."""
    profile = selectors.artist_get(handle=handle)
    if profile.user_id == user.pk:
        raise CannotFollowSelfError()
    if following:
        try:
            with transaction.atomic():
                Follow.objects.create(follower=user, followee_id=profile.user_id)
        except IntegrityError:
            pass
    else:
        Follow.objects.filter(follower=user, followee_id=profile.user_id).delete()
    return following


def report_image(*, token: str, reporter, reason: str, details: str = "", client_key: str = "") -> Report:
    """A report of a shared image into the staff moderation queue (admin → Gallery → Reports).

    It also goes into the trust layer's moderation queue (`review_report_image`). Visitors may report too;
    reports are limited per user or address (GALLERY_REPORTS_PER_HOUR), counted in the cache."""
    share = selectors.share_get(token=token)
    if reason not in Report.Reason.values:
        raise InvalidReportError()
    who = f"user:{reporter.pk}" if reporter is not None else f"ip:{client_key}"
    key = f"gallery:reports:{who}"
    cache.add(key, 0, timeout=3600)
    if cache.incr(key) > settings.GALLERY_REPORTS_PER_HOUR:
        raise TooManyReportsError()
    report = Report.objects.create(image_id=share.image_id, reporter=reporter, reason=reason,
                                   details=(details or "").strip()[:1000])
    # Staff decide in the trust layer's moderation queue (approve, hide, delete; audited there).
    review_report_image(image=share.image, reporter=reporter,
                        reason=f"{report.get_reason_display()}: {report.details}" if report.details
                        else report.get_reason_display())
    return report
