"""Profiles (handle, bio, links, avatar) and the account settings page."""

import pytest

from apps.accounts import services
from apps.accounts.models import Profile
from apps.accounts.profiles import HandleTakenError, InvalidHandleError, InvalidLinkError
from tests.media.images import photo_bytes


@pytest.mark.parametrize("handle", ["ab", "-abc", "abc-", "has space", "x" * 31, "émile", "a.b.c"])
def test_a_handle_must_be_3_to_30_plain_characters(user, handle):
    with pytest.raises(InvalidHandleError):
        services.profile_update(user=user, handle=handle)


@pytest.mark.parametrize("handle", ["admin", "API", "explore", "Settings"])
def test_reserved_words_are_refused_as_handles(user, handle):
    with pytest.raises(HandleTakenError):
        services.profile_update(user=user, handle=handle)


def test_handles_are_unique_ignoring_case(user, other_user):
    services.profile_update(user=user, handle="NightOwl")
    with pytest.raises(HandleTakenError):
        services.profile_update(user=other_user, handle="nightowl")
    assert Profile.objects.get(user=user).handle == "NightOwl"


def test_links_must_be_web_addresses_and_at_most_three(user):
    with pytest.raises(InvalidLinkError):
        services.profile_update(user=user, handle="painter", links=["javascript:alert(1)"])
    with pytest.raises(InvalidLinkError):
        services.profile_update(user=user, handle="painter", links=[f"https://e.com/{i}" for i in range(4)])
    profile = services.profile_update(user=user, handle="painter", links=["https://e.com/a", " ", ""])
    assert profile.links == ["https://e.com/a"]


def test_the_settings_page_needs_a_login_and_links_everything_in_the_account(client, user):
    assert client.get("/account/")["Location"].startswith("/accounts/login/")
    client.force_login(user)
    html = client.get("/account/").content.decode()
    for href in ("/account/safety/", "/account/export/", "/account/delete/", "/account/api-keys/",
                 "/account/webhooks/", "/accounts/email/", "/accounts/password/change/",
                 f"/u/{user.profile.handle}"):
        assert f'href="{href}"' in html, href
    assert 'href="/account/">Settings</a>' in html  # the header's account menu


def test_the_settings_page_saves_the_profile_and_shows_errors(client, user, other_user):
    services.profile_update(user=other_user, handle="taken-one")
    client.force_login(user)
    response = client.post("/account/", {"handle": "new-me", "bio": "hello", "link0": "https://e.com"})
    assert response.status_code == 302
    profile = Profile.objects.get(user=user)
    assert (profile.handle, profile.bio, profile.links) == ("new-me", "hello", ["https://e.com"])
    response = client.post("/account/", {"handle": "TAKEN-one", "bio": "x"})
    assert response.status_code == 409 and b"That handle is taken" in response.content
    assert Profile.objects.get(user=user).handle == "new-me"


def test_an_avatar_goes_through_the_upload_checks(client, user):
    client.force_login(user)
    bad = client.post("/account/", {"action": "avatar", "avatar": _file(b"%PDF-1.4 not an image", "a.png")})
    assert bad.status_code == 422
    assert Profile.objects.get(user=user).avatar is None
    good = client.post("/account/", {"action": "avatar", "avatar": _file(photo_bytes(64, 64), "me.png")})
    assert good.status_code == 302
    profile = Profile.objects.get(user=user)
    assert profile.avatar.owner == user and profile.avatar.format == "PNG"
    response = client.get(f"/u/{profile.handle}/avatar")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    client.post("/account/", {"action": "avatar_clear"})
    assert client.get(f"/u/{profile.handle}/avatar").status_code == 404


def _file(content: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)
