"""Brute force and sign-up abuse: the admin sign-in counts failed logins like the account login,
limits are counted in the cache every process shares, sign-ups are limited per IP, and the sign-up
grant waits for a verified address when verification is on."""

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client

from apps.credits.selectors import credits_balance_get
from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _staff():
    staff = UserFactory()
    staff.is_staff = staff.is_superuser = True
    staff.save(update_fields=["is_staff", "is_superuser"])
    return staff


def test_the_admin_sign_in_is_rate_limited_like_the_account_login():
    staff = _staff()
    client = Client()
    refused = 0
    for n in range(12):
        response = client.post("/admin/login/", {"username": staff.email, "password": f"wrong-{n}"})
        assert response.status_code == 200
        refused += b"Too many failed login attempts" in response.content
    assert refused > 0
    # The right password, after the wrong ones: still refused until the window passes.
    response = client.post("/admin/login/?next=/admin/", {"username": staff.email, "password": PASSWORD})
    assert response.status_code == 200 and b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_the_admin_sign_in_still_works_and_a_success_costs_nothing():
    staff = _staff()
    for _ in range(8):
        client = Client()
        response = client.post("/admin/login/?next=/admin/", {"username": staff.email, "password": PASSWORD})
        assert (response.status_code, response["Location"]) == (302, "/admin/")
    plain = UserFactory()
    response = Client().post("/admin/login/", {"username": plain.email, "password": PASSWORD})
    assert response.status_code == 200 and b"staff account" in response.content


def test_rate_limits_are_counted_in_the_shared_cache():
    assert django_settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    staff = _staff()
    Client().post("/admin/login/", {"username": staff.email, "password": "wrong"})
    client = cache._cache.get_client()
    assert any(b"login_failed" in key for key in client.scan_iter(f"{cache.key_prefix}:*"))


def test_sign_ups_are_rate_limited_per_ip(settings):
    accepted = 0
    for n in range(8):
        response = Client().post("/accounts/signup/", {
            "email": f"new{n}@example.com", "password1": "a long Pass phrase 9", "password2": "a long Pass phrase 9",
        }, REMOTE_ADDR="203.0.113.9")
        accepted += response.status_code == 302
    assert accepted == 5
    response = Client().post("/accounts/signup/", {
        "email": "other@example.com", "password1": "a long Pass phrase 9", "password2": "a long Pass phrase 9",
    }, REMOTE_ADDR="203.0.113.10")
    assert response.status_code == 302  # another address is not held back


def test_the_signup_grant_waits_for_a_verified_email_when_verification_is_on(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    settings.SIGNUP_GRANT_CREDITS = 50
    client = Client()
    response = client.post("/accounts/signup/", {
        "email": "verify@example.com", "password1": "a long Pass phrase 9", "password2": "a long Pass phrase 9",
    })
    assert response.status_code == 302
    address = EmailAddress.objects.get(email="verify@example.com")
    assert credits_balance_get(user=address.user) == 0
    confirmation = EmailConfirmationHMAC(address)
    assert client.post(f"/accounts/confirm-email/{confirmation.key}/").status_code == 302
    assert credits_balance_get(user=address.user) == 50
    # Confirming again (or another address) pays nothing more.
    client.post(f"/accounts/confirm-email/{confirmation.key}/")
    assert credits_balance_get(user=address.user) == 50


def test_without_verification_the_grant_is_paid_at_sign_up(settings):
    settings.SIGNUP_GRANT_CREDITS = 50
    response = Client().post("/accounts/signup/", {
        "email": "plain@example.com", "password1": "a long Pass phrase 9", "password2": "a long Pass phrase 9",
    })
    assert response.status_code == 302
    assert credits_balance_get(user=EmailAddress.objects.get(email="plain@example.com").user) == 50
