from django.db.models import QuerySet

from .models import ApiKey, User


def api_key_list(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("revoked_at", "-created_at")
