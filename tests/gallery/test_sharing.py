"""Sharing: who may share what, the stable share URLs, and taking an image down again."""

import pytest

from apps.gallery import links, services
from apps.gallery.models import Share
from apps.generations.models import GenerationImage, Status
from tests.gallery.factories import finished_generation, shared

pytestmark = pytest.mark.usefixtures("catalog")


def share_post(client, image_id, **data):
    return client.post(f"/images/{image_id}/share", {"show_prompt": "on", **data})


def test_the_owner_shares_an_image_publicly_and_its_file_url_is_public_and_cacheable(client, user):
    generation = finished_generation(user)
    image = generation.images.get()
    client.force_login(user)
    response = share_post(client, image.pk, visibility="public", next=f"/generations/{generation.id}/")
    assert response.status_code == 302 and response["Location"] == f"/generations/{generation.id}/"
    share = Share.objects.get()
    assert (share.owner, share.visibility, share.catalog_model_id, share.show_prompt, share.allow_original) == (
        user, "public", generation.catalog_model_id, True, False)
    client.logout()
    url = links.share_file_url(share, "thumb")
    assert url == f"/s/{share.token}/{links.share_digest(share.token, image.thumbnail)}.webp"
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "public, max-age=86400"
    assert response["ETag"] == f'"{links.share_digest(share.token, image.thumbnail)}"'
    assert b"".join(response.streaming_content)[:4] == b"RIFF"
    assert client.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_making_it_private_takes_every_url_down_at_once_and_sharing_again_makes_new_ones(client, user):
    share = shared(user)
    old_file, old_page = links.share_file_url(share, "preview"), f"/i/{share.token}"
    assert client.get(old_file).status_code == 200
    assert client.get(old_page).status_code == 200
    client.force_login(user)
    assert share_post(client, share.image_id, visibility="private").status_code == 302
    assert Share.objects.count() == 0
    client.logout()
    assert client.get(old_file).status_code == 404
    assert client.get(old_page).status_code == 404
    again = services.share_set(user=user, image_id=share.image_id, visibility="public")
    assert again.token != share.token
    assert client.get(old_file).status_code == 404
    assert client.get(links.share_file_url(again, "preview")).status_code == 200


def test_the_share_form_never_redirects_off_site(client, user):
    image = finished_generation(user).images.get()
    client.force_login(user)
    response = share_post(client, image.pk, visibility="unlisted", next="https://evil.example/")
    assert response.status_code == 302 and response["Location"] == "/images/"


def test_another_user_cannot_share_or_unshare_my_image(client, user, other_user):
    share = shared(user, "unlisted")
    client.force_login(other_user)
    assert share_post(client, share.image_id, visibility="public").status_code == 404
    assert share_post(client, share.image_id, visibility="private").status_code == 404
    share.refresh_from_db()
    assert share.visibility == "unlisted"


def test_a_visitor_cannot_share_anything(client, user):
    image = finished_generation(user).images.get()
    response = share_post(client, image.pk, visibility="public")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Share.objects.count() == 0


def test_the_original_is_served_only_when_the_owner_allows_it(client, user):
    share = shared(user)
    original_digest = links.share_digest(share.token, share.image.file)
    assert links.share_file_url(share, "original") == ""
    assert client.get(f"/s/{share.token}/{original_digest}.png").status_code == 404
    share = services.share_set(user=user, image_id=share.image_id, visibility="public", allow_original=True)
    response = client.get(links.share_file_url(share, "original"))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"


def test_a_digest_from_another_share_or_a_wrong_extension_is_not_found(client, user, other_user):
    mine, theirs = shared(user), shared(other_user)
    their_digest = links.share_digest(theirs.token, theirs.image.thumbnail)
    assert client.get(f"/s/{mine.token}/{their_digest}.webp").status_code == 404
    my_digest = links.share_digest(mine.token, mine.image.thumbnail)
    assert client.get(f"/s/{mine.token}/{my_digest}.png").status_code == 404
    assert client.get(f"/s/{mine.token}/{my_digest}.webp").status_code == 200


def test_only_an_image_whose_generation_succeeded_can_be_public(client, user):
    generation = finished_generation(user)
    image = generation.images.get()
    generation.__class__.objects.filter(pk=generation.pk).update(status=Status.REJECTED)
    client.force_login(user)
    response = client.post(f"/images/{image.pk}/share", {"visibility": "public"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert b"passed the safety checks" in response.content
    assert Share.objects.count() == 0
    # Unlisted is a link the owner hands out themselves: allowed.
    assert services.share_set(user=user, image_id=image.pk, visibility="unlisted").visibility == "unlisted"


def test_an_unlisted_image_is_reachable_by_link_only(client, user):
    share = shared(user, "unlisted")
    response = client.get(f"/i/{share.token}")
    assert response.status_code == 200
    assert response["X-Robots-Tag"] == "noindex"
    assert share.token not in client.get("/explore").content.decode()
    assert share.token not in client.get(f"/u/{user.profile.handle}").content.decode()


def test_becoming_public_puts_the_image_first_on_explore(client, user):
    first = shared(user, "public")
    second = shared(user, "unlisted")
    services.share_set(user=user, image_id=second.image_id, visibility="public")
    page = client.get("/explore").content.decode()
    assert page.index(second.token) < page.index(first.token)


def test_the_image_page_has_open_graph_tags_and_the_prompt_unless_hidden(client, user, settings):
    settings.SITE_URL = "https://studio.example"
    share = shared(user, prompt="a red fox asleep in deep snow")
    page = client.get(f"/i/{share.token}").content.decode()
    preview = links.share_file_url(share, "preview")
    assert f'<meta property="og:image" content="https://studio.example{preview}">' in page
    assert f'<meta property="og:url" content="https://studio.example/i/{share.token}">' in page
    assert '<meta property="og:title" content="a red fox asleep in deep snow">' in page
    assert "a red fox asleep in deep snow</dd>" in page
    # A visitor's Remix goes through the login, then to the form.
    assert f'href="/accounts/login/?next=/%3Fremix%3D{share.token}">Remix</a>' in page
    hidden = shared(user, show_prompt=False, prompt="a secret prompt")
    page = client.get(f"/i/{hidden.token}").content.decode()
    assert "a secret prompt" not in page
    assert ">Remix</a>" not in page
    assert "keeps the prompt of this image to themselves" in page


def test_the_owner_sees_the_share_controls_on_the_generation_page(client, user):
    generation = finished_generation(user)
    client.force_login(user)
    page = client.get(f"/generations/{generation.id}/").content.decode()
    image = GenerationImage.objects.get(generation=generation)
    assert f'action="/images/{image.pk}/share"' in page
    assert 'value="private" checked' in page


def test_the_api_shares_and_unshares_and_lists_the_gallery_without_a_key(client, user, other_user, settings):
    from apps.accounts.services import api_key_create

    settings.SITE_URL = "https://studio.example"
    image = finished_generation(user).images.get()
    mine = {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(user=user, name='k').secret}"}
    theirs = {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(user=other_user, name='k').secret}"}
    url = f"/api/v1/images/{image.pk}/share"
    body = {"visibility": "public", "show_prompt": False}
    assert client.put(url, body, content_type="application/json", **theirs).status_code == 404
    assert client.put(url, body, content_type="application/json").status_code == 401
    response = client.put(url, body, content_type="application/json", **mine)
    share = Share.objects.get()
    assert response.status_code == 200
    assert response.json() == {
        "visibility": "public", "page_url": f"https://studio.example/i/{share.token}",
        "preview_url": "https://studio.example" + links.share_file_url(share, "preview"), "original_url": None}
    assert share.show_prompt is False
    listed = client.get("/api/v1/gallery").json()
    assert [item["page_url"] for item in listed["items"]] == [f"https://studio.example/i/{share.token}"]
    assert listed["items"][0]["artist"] == user.profile.handle and listed["next_cursor"] is None
    response = client.put(url, {"visibility": "private"}, content_type="application/json", **mine)
    assert response.json() == {"visibility": "private", "page_url": None, "preview_url": None, "original_url": None}
    assert client.get("/api/v1/gallery").json() == {"items": [], "next_cursor": None}
