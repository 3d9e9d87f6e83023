"""Collections on artist pages: listed by the owner's choice, showing only the images in them the
owner shared publicly."""

import pytest

from apps.accounts.services import profile_ensure
from apps.library import services as library_services
from apps.library.refs import IMAGE, ItemRef
from tests.gallery.factories import finished_generation, shared

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def board(user):
    public = shared(user, prompt="a public lighthouse")
    private = finished_generation(user, prompt="a private garden").images.get()
    collection = library_services.collection_create(
        user=user, name="Coastlines", items=[ItemRef(IMAGE, str(public.image_id)), ItemRef(IMAGE, str(private.pk))])
    return collection, public, private


def test_a_collection_is_listed_only_once_its_owner_makes_it_public(client, user, board):
    collection, public, private = board
    handle = profile_ensure(user=user).handle
    assert "Coastlines" not in client.get(f"/u/{handle}").content.decode()
    assert client.get(f"/u/{handle}/c/{collection.id}").status_code == 404

    client.force_login(user)
    response = client.post(f"/library/collections/{collection.id}/publish/", {"public": "1"})
    assert response.status_code == 302
    client.logout()

    artist = client.get(f"/u/{handle}").content.decode()
    assert f'href="/u/{handle}/c/{collection.id}"' in artist and "Coastlines" in artist
    page = client.get(f"/u/{handle}/c/{collection.id}").content.decode()
    assert f'href="/i/{public.token}"' in page
    assert "1 public image" in page
    assert page.count('class="gtile"') == 1 and "private garden" not in page  # never what was not shared


def test_another_user_cannot_list_my_collection_and_hiding_it_takes_it_down(client, user, other_user, board):
    collection, _, _ = board
    handle = profile_ensure(user=user).handle
    client.force_login(other_user)
    assert client.post(f"/library/collections/{collection.id}/publish/", {"public": "1"}).status_code == 404
    collection.refresh_from_db()
    assert collection.is_public is False

    library_services.collection_publish(user=user, collection_id=collection.id, public=True)
    assert client.get(f"/u/{handle}/c/{collection.id}").status_code == 200
    library_services.collection_publish(user=user, collection_id=collection.id, public=False)
    assert client.get(f"/u/{handle}/c/{collection.id}").status_code == 404


def test_the_api_lists_a_collection_publicly(user, board):
    from django.test import Client

    from apps.accounts.services import api_key_create

    collection, _, _ = board
    key = api_key_create(user=user, name="t").secret
    response = Client().patch(f"/api/v1/collections/{collection.id}", {"is_public": True},
                              content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200 and response.json()["is_public"] is True
    response = Client().patch(f"/api/v1/collections/{collection.id}", {"name": "Shores"},
                              content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.json()["name"] == "Shores" and response.json()["is_public"] is True
