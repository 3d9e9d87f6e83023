from django.db.models import QuerySet

from .models import ApiKey, Profile, User


def api_key_list(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("revoked_at", "-created_at")


def profile_by_handle(*, handle: str) -> Profile | None:
    """The profile with this handle, in any case (handles are unique ignoring case)."""
    return Profile.objects.select_related("avatar", "user").filter(handle__iexact=handle).first()
