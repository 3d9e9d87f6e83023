import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError, ConflictError, NotFoundError
from apps.credits import services as credits_services

from . import profiles
from .models import ApiKey, Profile, User

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
def user_signup_complete(*, user: User, email_verified: bool = True) -> None:
    """Everything a new account gets: the sign-up grant — once its email address is verified, when
    sign-up asks for that (else every throwaway address would be paid credits)."""
    profile_ensure(user=user)
    if email_verified:
        credits_services.credits_grant_signup(user=user)


def user_email_verified(*, user: User) -> None:
    """An address of `user` was confirmed: the sign-up grant, if not paid yet (its ledger key is per user)."""
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
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # concurrent creates count one at a time
        if ApiKey.objects.filter(user=user, revoked_at__isnull=True).count() >= settings.API_KEYS_MAX_PER_USER:
            raise ConflictError(f"You can have at most {settings.API_KEYS_MAX_PER_USER} API keys: revoke one "
                                "you no longer use first.", code="too_many_api_keys")
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


def _api_key_user_sql() -> str:
    columns = ", ".join(f'u."{field.column}"' for field in User._meta.concrete_fields)
    return (
        f"SELECT {columns}, k.id AS api_key_id, "
        f"CASE WHEN k.last_used_at IS NULL OR k.last_used_at < %s THEN 1 ELSE 0 END AS api_key_mark_used "
        f"FROM {User._meta.db_table} u JOIN {ApiKey._meta.db_table} k "
        f'ON k."{ApiKey._meta.get_field("user").column}" = u."{User._meta.pk.column}" '
        f"WHERE k.key_hash = %s AND k.revoked_at IS NULL AND u.is_active = %s"
    )


_API_KEY_USER_SQL = _api_key_user_sql()


def api_key_authenticate(*, secret: str) -> User | None:
    if not secret.startswith(API_KEY_PREFIX):
        return None
    # Every API request comes through here: one plain query for the key's active owner (compiling
    # the ORM's select_related query cost several times running it). key_hash is unique.
    now = timezone.now()
    stale_before = connection.ops.adapt_datetimefield_value(now - LAST_USED_RESOLUTION)
    user = next(iter(User.objects.raw(_API_KEY_USER_SQL, [stale_before, api_key_hash(secret), True])), None)
    if user is None:
        return None
    if user.api_key_mark_used:
        ApiKey.objects.filter(pk=user.api_key_id).update(last_used_at=now)
    return user


def profile_ensure(*, user: User) -> Profile:
    """The user's profile, made with a free default handle (from their address) if they have none."""
    profile = Profile.objects.filter(user=user).first()
    if profile is not None:
        return profile
    base = profiles.handle_base_from_email(user.email)
    for attempt in range(20):
        handle = base if attempt == 0 else f"{base}-{secrets.randbelow(10 ** (2 + attempt // 5))}"
        try:
            with transaction.atomic():
                return Profile.objects.create(user=user, handle=handle)
        except IntegrityError:
            profile = Profile.objects.filter(user=user).first()
            if profile is not None:  # made concurrently
                return profile
    return Profile.objects.create(user=user, handle=f"artist-{user.pk}")


def profile_update(*, user: User, handle: str, bio: str = "", links: list[str] | None = None) -> Profile:
    """Change the handle, bio and links; a handle someone else has (in any case) is refused."""
    handle = profiles.handle_clean(handle)
    links = profiles.links_clean(links or [])
    profile = profile_ensure(user=user)
    profile.handle, profile.bio, profile.links = handle, (bio or "").strip()[:500], links
    try:
        with transaction.atomic():
            profile.save(update_fields=["handle", "bio", "links", "updated_at"])
    except IntegrityError:
        raise profiles.HandleTakenError() from None
    return profile


def profile_avatar_set(*, user: User, content: bytes, filename: str = "") -> Profile:
    """A new avatar, checked and cleaned like every upload (format sniffed, size bounded, metadata gone)."""
    from apps.media.services import upload_create

    upload = upload_create(user=user, content=content, filename=filename)
    profile = profile_ensure(user=user)
    profile.avatar = upload
    profile.save(update_fields=["avatar", "updated_at"])
    return profile


def profile_avatar_clear(*, user: User) -> Profile:
    profile = profile_ensure(user=user)
    profile.avatar = None
    profile.save(update_fields=["avatar", "updated_at"])
    return profile
