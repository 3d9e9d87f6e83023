from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import ApiKey
from apps.core.exceptions import ApplicationError, NotFoundError
from apps.credits.models import LedgerEntry
from apps.credits.selectors import credits_balance_get


def test_sign_up_grants_the_welcome_credits_once(user, settings):
    services.user_signup_complete(user=user)  # a second call changes nothing
    assert credits_balance_get(user=user) == settings.SIGNUP_GRANT_CREDITS == 100
    assert list(LedgerEntry.objects.filter(user=user).values_list("kind", "amount")) == [("grant", 100)]


def test_an_api_key_is_shown_once_and_stored_only_as_a_hash(user):
    issued = services.api_key_create(user=user, name="  shop backend ")
    stored = ApiKey.objects.get(pk=issued.api_key.pk)
    assert issued.secret.startswith("dr_") and len(issued.secret) > 40
    assert stored.name == "shop backend"
    assert stored.prefix == issued.secret[:10]
    assert stored.key_hash == services.api_key_hash(issued.secret)
    assert issued.secret not in str(ApiKey.objects.filter(pk=stored.pk).values().get())


def test_an_api_key_needs_a_name(user):
    with pytest.raises(ApplicationError) as raised:
        services.api_key_create(user=user, name="   ")
    assert raised.value.code == "invalid_name"
    assert ApiKey.objects.count() == 0


def test_authentication_records_last_use_without_writing_on_every_call(user):
    issued = services.api_key_create(user=user, name="cli")
    assert services.api_key_authenticate(secret=issued.secret) == user
    first_use = ApiKey.objects.get().last_used_at
    assert first_use is not None
    services.api_key_authenticate(secret=issued.secret)
    assert ApiKey.objects.get().last_used_at == first_use
    ApiKey.objects.update(last_used_at=timezone.now() - timedelta(minutes=5))
    services.api_key_authenticate(secret=issued.secret)
    assert ApiKey.objects.get().last_used_at > first_use - timedelta(seconds=1)


@pytest.mark.parametrize("secret", ["", "dr_wrong", "not-even-prefixed"])
def test_unknown_keys_do_not_authenticate(user, secret):
    services.api_key_create(user=user, name="cli")
    assert services.api_key_authenticate(secret=secret) is None


def test_a_revoked_key_stops_working_and_revoking_again_is_harmless(user):
    issued = services.api_key_create(user=user, name="cli")
    services.api_key_revoke(user=user, api_key_id=issued.api_key.pk)
    revoked_at = ApiKey.objects.get().revoked_at
    services.api_key_revoke(user=user, api_key_id=issued.api_key.pk)
    assert ApiKey.objects.get().revoked_at == revoked_at
    assert services.api_key_authenticate(secret=issued.secret) is None


def test_nobody_revokes_another_users_key(user, other_user):
    issued = services.api_key_create(user=user, name="cli")
    with pytest.raises(NotFoundError):
        services.api_key_revoke(user=other_user, api_key_id=issued.api_key.pk)
    assert ApiKey.objects.get().revoked_at is None


def test_api_key_auth_returns_the_full_user_and_refuses_revoked_and_inactive(user):
    issued = services.api_key_create(user=user, name="k")
    found = services.api_key_authenticate(secret=issued.secret)
    fields = [field.attname for field in user._meta.concrete_fields]
    assert {name: getattr(found, name) for name in fields} == {name: getattr(user, name) for name in fields}
    assert services.api_key_authenticate(secret=issued.secret + "x") is None
    assert services.api_key_authenticate(secret="nope") is None
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert services.api_key_authenticate(secret=issued.secret) is None
    type(user).objects.filter(pk=user.pk).update(is_active=True)
    services.api_key_revoke(user=user, api_key_id=issued.api_key.pk)
    assert services.api_key_authenticate(secret=issued.secret) is None


def test_a_key_s_last_use_is_written_at_most_once_a_minute(user, django_assert_num_queries):
    issued = services.api_key_create(user=user, name="k")
    assert services.api_key_authenticate(secret=issued.secret) == user
    first = ApiKey.objects.get(pk=issued.api_key.pk).last_used_at
    assert first is not None
    with django_assert_num_queries(1):
        services.api_key_authenticate(secret=issued.secret)
    ApiKey.objects.filter(pk=issued.api_key.pk).update(last_used_at=timezone.now() - timedelta(seconds=61))
    with django_assert_num_queries(2):
        services.api_key_authenticate(secret=issued.secret)
    assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_at > first
