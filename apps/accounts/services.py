import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError, NotFoundError
from apps.credits import services as credits_services

from .models import ApiKey, User

API_KEY_PREFIX = "dr_"
# Writing last_used_at on every request would turn each API read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    secret: str


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def user_signup_complete(*, user: User) -> None:
    """Everything a new account gets: its credit account and the sign-up grant."""
    credits_services.credits_grant_signup(user=user)


def user_create(*, email: str, password: str | None = None) -> User:
    with transaction.atomic():
        user = User.objects.create_user(email=email, password=password)
        user_signup_complete(user=user)
    return user


def api_key_create(*, user: User, name: str) -> IssuedApiKey:
    name = name.strip()
    if not name:
        raise ApplicationError("Give the key a name so you can recognise it later.", code="invalid_name")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        user=user, name=name[:100], prefix=secret[:10], key_hash=api_key_hash(secret)
    )
    return IssuedApiKey(api_key=api_key, secret=secret)


def api_key_revoke(*, user: User, api_key_id: int) -> ApiKey:
    """Revoking twice is harmless; another user's key is simply not found."""
    api_key = ApiKey.objects.filter(pk=api_key_id, user=user).first()
    if api_key is None:
        raise NotFoundError("API key not found.")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
    return api_key


def api_key_authenticate(*, secret: str) -> User | None:
    if not secret.startswith(API_KEY_PREFIX):
        return None
    api_key = (
        ApiKey.objects.select_related("user")
        .filter(key_hash=api_key_hash(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key.user
