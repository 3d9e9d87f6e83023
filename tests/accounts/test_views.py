import re

from django.test import Client

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_create, api_key_hash


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_creating_a_key_shows_it_once(user):
    client = logged_in(user)
    page = client.post("/account/api-keys/", {"name": "render farm"}).content.decode()
    secret = re.search(r'value="(dr_[^"]+)"', page).group(1)
    assert ApiKey.objects.get().key_hash == api_key_hash(secret)
    again = client.get("/account/api-keys/").content.decode()
    assert secret not in again and "render farm" in again and secret[:10] in again


def test_revoking_from_the_page(user, other_user):
    issued = api_key_create(user=user, name="cli")
    assert logged_in(other_user).post(f"/account/api-keys/{issued.api_key.pk}/revoke/").status_code == 404
    assert ApiKey.objects.get().revoked_at is None
    response = logged_in(user).post(f"/account/api-keys/{issued.api_key.pk}/revoke/")
    assert response.status_code == 302
    assert ApiKey.objects.get().revoked_at is not None
