"""/explore, artist pages, the following feed, likes, follows, reports and remix."""

import pytest
from django.test import override_settings

from apps.gallery import selectors, services
from apps.gallery.models import Follow, Like, Report, Share
from tests.accounts.factories import UserFactory
from tests.gallery.factories import shared

pytestmark = pytest.mark.usefixtures("catalog")


def tokens_in(html: str, shares) -> list[str]:
    """The given shares' tokens in the order the page shows them."""
    found = [(html.index(f"/i/{s.token}"), s.token) for s in shares if f"/i/{s.token}" in html]
    return [token for _, token in sorted(found)]


def test_explore_lists_public_images_newest_first_for_visitors(client, user, other_user):
    a, b, c = shared(user), shared(other_user), shared(user)
    response = client.get("/explore")
    assert response.status_code == 200
    assert tokens_in(response.content.decode(), [a, b, c]) == [c.token, b.token, a.token]
    assert f"@{user.profile.handle}" in response.content.decode()


def test_explore_pages_by_keyset_cursor_and_htmx_gets_the_next_tiles_only(client, user):
    made = [shared(user) for _ in range(3)]
    first = selectors.explore_page(limit=2)
    assert [s.token for s in first.items] == [made[2].token, made[1].token]
    second = selectors.explore_page(limit=2, cursor=first.next_cursor)
    assert [s.token for s in second.items] == [made[0].token] and second.next_cursor is None
    response = client.get("/explore", {"cursor": first.next_cursor}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<h1>" not in html and tokens_in(html, made) == [made[0].token]


def test_explore_infinite_scroll_asks_for_the_next_page_when_revealed(client, user):
    for _ in range(25):
        services.share_set(user=user, image_id=shared(user, "unlisted").image_id, visibility="public")
    html = client.get("/explore").content.decode()
    assert html.count('class="gtile"') == 24
    assert 'hx-trigger="revealed"' in html and "cursor=" in html


def test_explore_filters_by_model_and_sorts_top_by_likes(client, user, other_user):
    sketch = shared(user, model_slug="offline-sketch")
    other_model = shared(user, model_slug="offline-studio", tier="standard")
    liked = shared(user)
    services.like_set(user=other_user, token=liked.token, liked=True)
    html = client.get("/explore", {"sort": "top", "window": "all"}).content.decode()
    assert tokens_in(html, [sketch, liked])[0] == liked.token
    html = client.get("/explore", {"model": "offline-studio"}).content.decode()
    assert tokens_in(html, [sketch, liked, other_model]) == [other_model.token]
    assert tokens_in(client.get("/explore", {"model": "no-such-model"}).content.decode(), [sketch, liked]) == []


def test_top_pages_by_likes_then_id_without_repeating(user, other_user):
    shares = [shared(user) for _ in range(3)]
    services.like_set(user=other_user, token=shares[0].token, liked=True)
    first = selectors.explore_page(sort="top", window="all", limit=2)
    second = selectors.explore_page(sort="top", window="all", limit=2, cursor=first.next_cursor)
    assert [s.token for s in first.items + second.items] == [shares[0].token, shares[2].token, shares[1].token]


def test_a_broken_cursor_is_a_400_not_a_500(client):
    assert client.get("/explore", {"cursor": "not-a-cursor"}).status_code == 400
    assert client.get("/explore", {"sort": "top", "cursor": "bm9wZQ"}).status_code == 400


def test_likes_count_once_per_user_and_visitors_cannot_like(client, user, other_user):
    share = shared(user)
    client.force_login(other_user)
    for _ in range(2):
        response = client.post(f"/i/{share.token}/like", {"liked": "1"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200 and 'aria-pressed="true"' in response.content.decode()
    share.refresh_from_db()
    assert (share.like_count, Like.objects.count()) == (1, 1)
    client.post(f"/i/{share.token}/like", {"liked": "0"})
    share.refresh_from_db()
    assert (share.like_count, Like.objects.count()) == (0, 0)
    client.logout()
    response = client.post(f"/i/{share.token}/like", {"liked": "1"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Like.objects.count() == 0


def test_a_private_image_cannot_be_liked_or_reported(client, user, other_user):
    share = shared(user)
    token = share.token
    services.share_set(user=user, image_id=share.image_id, visibility="private")
    client.force_login(other_user)
    assert client.post(f"/i/{token}/like", {"liked": "1"}).status_code == 404
    assert client.post(f"/i/{token}/report", {"reason": "spam"}).status_code == 404
    assert (Like.objects.count(), Report.objects.count()) == (0, 0)


def test_visitors_report_an_image_into_the_moderation_queue_within_a_limit(client, user):
    share = shared(user)
    response = client.post(f"/i/{share.token}/report", {"reason": "stolen", "details": "my photo"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b"sent to our moderators" in response.content
    report = Report.objects.get()
    assert (report.image_id, report.reporter, report.reason, report.details, report.status) == (
        share.image_id, None, "stolen", "my photo", "open")
    assert client.post(f"/i/{share.token}/report", {"reason": "nonsense"}).status_code == 422
    with override_settings(GALLERY_REPORTS_PER_HOUR=2):
        assert client.post(f"/i/{share.token}/report", {"reason": "spam"}).status_code == 200
        assert client.post(f"/i/{share.token}/report", {"reason": "spam"}).status_code == 429
    assert Report.objects.count() == 2


def test_the_artist_page_shows_profile_and_public_images_only(client, user):
    services_profile(user, bio="I paint <b>lighthouses</b>", links=["https://example.com/me"])
    public, unlisted = shared(user), shared(user, "unlisted")
    response = client.get("/u/lighthouse-keeper")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>@lighthouse-keeper</h1>" in html
    assert "I paint &lt;b&gt;lighthouses&lt;/b&gt;" in html
    assert '<a href="https://example.com/me" rel="nofollow ugc noopener" target="_blank">example.com/me</a>' in html
    assert tokens_in(html, [public, unlisted]) == [public.token]
    assert client.get("/u/LIGHTHOUSE-keeper")["Location"] == "/u/lighthouse-keeper"
    assert client.get("/u/nobody-here").status_code == 404


def services_profile(user, **fields):
    from apps.accounts.services import profile_update

    return profile_update(user=user, handle="lighthouse-keeper", **fields)


def test_following_an_artist_fills_the_following_feed(client, user, other_user):
    services_profile(user)
    mine = shared(user)
    client.force_login(other_user)
    assert client.get("/following").content.decode().count('class="gtile"') == 0
    for _ in range(2):
        assert client.post("/u/lighthouse-keeper/follow", {"following": "1"}).status_code == 302
    assert Follow.objects.filter(follower=other_user, followee=user).count() == 1
    assert tokens_in(client.get("/following").content.decode(), [mine]) == [mine.token]
    client.post("/u/lighthouse-keeper/follow", {"following": "0"})
    assert Follow.objects.count() == 0


def test_nobody_follows_themselves_and_visitors_cannot_follow(client, user):
    services_profile(user)
    client.force_login(user)
    assert client.post("/u/lighthouse-keeper/follow", {"following": "1"}).status_code == 422
    client.logout()
    assert client.post("/u/lighthouse-keeper/follow", {"following": "1"}).status_code == 302
    assert client.get("/following").status_code == 302
    assert Follow.objects.count() == 0


def test_remix_fills_the_generate_form_with_a_shared_images_settings(client, user, other_user):
    share = shared(user, prompt="a quiet harbour at night", seed="1234")
    client.force_login(other_user)
    html = client.get("/", {"remix": share.token}).content.decode()
    assert ">a quiet harbour at night</textarea>" in html
    assert 'value="1234"' in html
    hidden = shared(user, show_prompt=False, prompt="kept to myself")
    html = client.get("/", {"remix": hidden.token}).content.decode()
    assert "kept to myself" not in html


def test_the_landing_page_shows_the_public_gallery(client, user):
    share = shared(user)
    unlisted = shared(user, "unlisted")
    html = client.get("/").content.decode()
    assert tokens_in(html, [share, unlisted]) == [share.token]


def test_a_share_row_per_image_at_most(user):
    share = shared(user)
    services.share_set(user=user, image_id=share.image_id, visibility="unlisted")
    services.share_set(user=user, image_id=share.image_id, visibility="public")
    assert Share.objects.filter(image_id=share.image_id).count() == 1


def test_a_new_user_gets_a_free_default_handle():
    first = UserFactory(email="admin@example.com")
    second = UserFactory(email="Admin@example.org")
    assert first.profile.handle == "artist-admin"
    assert second.profile.handle.startswith("artist-admin-")


def test_a_tile_shows_its_placeholder_and_follows_likes_and_handle_changes(client, user, other_user):
    from apps.accounts.services import profile_update

    share = shared(user)
    html = client.get("/explore").content.decode()
    assert 'style="background-image: url(data:image/png;base64,' in html
    assert "♥" not in html
    services.like_set(user=other_user, token=share.token, liked=True)
    html = client.get("/explore").content.decode()
    assert '<span aria-label="1 like">♥ 1</span>' in html
    old_handle = user.profile.handle
    profile_update(user=user, handle="renamed-artist")
    html = client.get("/explore").content.decode()
    assert "<span>@renamed-artist</span>" in html
    assert f"<span>@{old_handle}</span>" not in html
