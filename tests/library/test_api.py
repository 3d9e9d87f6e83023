import pytest

from apps.accounts.services import api_key_create
from apps.generations.models import Generation, GenerationImage
from apps.library.models import Collection, CollectionItem, Star
from apps.media.models import Upload
from tests.apiclient import ApiClient

from .conftest import images


@pytest.fixture
def api(user):
    return ApiClient(api_key_create(user=user, name="tests").secret)


@pytest.fixture
def other_api(other_user):
    return ApiClient(api_key_create(user=other_user, name="tests").secret)


def put(client, path):
    return client.client.put(f"/api/v1{path}", headers=client.headers)


def test_delete_restore_and_search_through_the_api(api, user, make_generation, make_photo):
    fox = make_generation(user, prompt="a red fox asleep in deep snow")
    make_generation(user, prompt="a lighthouse on a cliff")
    photo = make_photo(user)

    found = api.get("/library", q="foxes snow").json()
    assert [item["prompt"] for item in found["items"]] == ["a red fox asleep in deep snow"]
    image = found["items"][0]
    assert image["kind"] == "image" and image["generation_id"] == str(fox.id)
    assert image["download_name"] == f"a-red-fox-asleep-in-deep-snow-{str(fox.id)[:8]}-1.png"

    everything = api.get("/library").json()
    assert [item["kind"] for item in everything["items"]] == ["photo", "image", "image"]
    assert [i["id"] for i in api.get("/library", kind="photo").json()["items"]] == [str(photo.id)]

    response = api.delete(f"/library/items/generation/{fox.id}")
    assert response.status_code == 200 and response.json()["deleted"] == 1
    assert api.get("/library", q="fox").json()["items"] == []
    assert api.get(f"/generations/{fox.id}").status_code == 404

    restored = api.post("/library/restore", {"items": [{"kind": "generation", "id": str(fox.id)}]})
    assert restored.json() == {"restored": 1}
    assert len(api.get("/library", q="fox").json()["items"]) == 1

    bulk = api.post("/library/delete", {"items": [{"kind": "photo", "id": str(photo.id)},
                                                  {"kind": "image", "id": image["id"]}]})
    assert bulk.status_code == 200 and bulk.json()["deleted"] == 2
    assert [i["prompt"] for i in api.get("/library").json()["items"]] == ["a lighthouse on a cliff"]


def test_keyset_pages_cover_everything_once(api, user, make_generation, make_photo):
    for n in range(3):
        make_generation(user, prompt=f"study {n}")
        make_photo(user)
    seen, cursor = [], None
    while True:
        page = api.get("/library", limit=2, **({"cursor": cursor} if cursor else {})).json()
        seen += [(i["kind"], i["id"]) for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    everything = [(i["kind"], i["id"]) for i in api.get("/library", limit=100).json()["items"]]
    assert seen == everything and len(seen) == 6 and len(set(seen)) == 6
    assert api.get("/library", cursor="bm9wZQ").json()["code"] == "invalid_cursor"


def test_stars_and_collections(api, user, make_generation, make_photo):
    generation = make_generation(user, num_images=2)
    first, second = images(generation)
    photo = make_photo(user)

    assert put(api, f"/library/items/image/{first.pk}/star").json() == {"starred": True}
    assert put(api, f"/library/items/image/{first.pk}/star").json() == {"starred": True}  # twice is harmless
    assert put(api, f"/library/items/photo/{photo.id}/star").json() == {"starred": True}
    starred = api.get("/library", starred="true").json()["items"]
    assert [(i["kind"], i["id"]) for i in starred] == [("photo", str(photo.id)), ("image", str(first.pk))]
    assert api.delete(f"/library/items/photo/{photo.id}/star").json() == {"starred": False}
    assert Star.objects.filter(owner=user).count() == 1

    board = api.post("/collections", {"name": "Winter"})
    assert board.status_code == 201
    board_id = board.json()["id"]
    items = [{"kind": "image", "id": str(second.pk)}, {"kind": "photo", "id": str(photo.id)},
             {"kind": "image", "id": str(first.pk)}]
    assert api.post(f"/collections/{board_id}/items", {"items": items}).json() == {"added": 3}
    assert api.post(f"/collections/{board_id}/items", {"items": items[:1]}).json() == {"added": 0}
    ordered = api.get(f"/collections/{board_id}/items").json()
    assert [(i["kind"], i["id"]) for i in ordered] == [(i["kind"], i["id"]) for i in items]

    new_order = [items[2], items[0], items[1]]
    assert put_json(api, f"/collections/{board_id}/order", {"items": new_order}).status_code == 204
    assert [(i["kind"], i["id"]) for i in api.get(f"/collections/{board_id}/items").json()] == [
        (i["kind"], i["id"]) for i in new_order]
    assert put_json(api, f"/collections/{board_id}/order", {"items": new_order[:2]}).json()["code"] == "invalid_order"

    assert api.post(f"/collections/{board_id}/items/remove", {"items": items[1:2]}).json() == {"removed": 1}
    in_board = api.get("/library", collection=board_id).json()["items"]
    assert sorted(i["id"] for i in in_board) == sorted([str(first.pk), str(second.pk)])

    renamed = api.client.patch(f"/api/v1/collections/{board_id}", '{"name": "Snow"}', content_type="application/json",
                               headers=api.headers)
    assert renamed.json()["name"] == "Snow"
    assert api.get("/collections").json()["items"][0]["name"] == "Snow"
    assert api.delete(f"/collections/{board_id}").status_code == 204
    assert Collection.objects.filter(owner=user).count() == 0
    assert GenerationImage.objects.filter(generation=generation).count() == 2  # the images stay


def put_json(client, path, body):
    import json

    return client.client.put(f"/api/v1{path}", json.dumps(body), content_type="application/json",
                             headers=client.headers)


def test_another_user_and_a_visitor_get_404_or_401_and_change_nothing(api, other_api, user, make_generation,
                                                                      make_photo):
    generation = make_generation(user)
    (image,) = images(generation)
    photo = make_photo(user)
    board = Collection.objects.create(owner=user, name="Mine")
    CollectionItem.objects.create(collection=board, image=image, position=1)
    Star.objects.create(owner=user, image=image)
    visitor = ApiClient(None)

    calls = [
        ("get", f"/library/items/image/{image.pk}", None),
        ("delete", f"/library/items/generation/{generation.id}", None),
        ("delete", f"/library/items/image/{image.pk}", None),
        ("delete", f"/library/items/photo/{photo.id}", None),
        ("post", "/library/delete", {"items": [{"kind": "photo", "id": str(photo.id)}]}),
        ("put", f"/library/items/image/{image.pk}/star", None),
        ("delete", f"/library/items/image/{image.pk}/star", None),
        ("get", f"/collections/{board.id}", None),
        ("get", f"/collections/{board.id}/items", None),
        ("patch", f"/collections/{board.id}", {"name": "Theirs"}),
        ("delete", f"/collections/{board.id}", None),
        ("post", f"/collections/{board.id}/items", {"items": [{"kind": "image", "id": str(image.pk)}]}),
        ("post", f"/collections/{board.id}/items/remove", {"items": [{"kind": "image", "id": str(image.pk)}]}),
        ("put", f"/collections/{board.id}/order", {"items": [{"kind": "image", "id": str(image.pk)}]}),
    ]
    for client, expected in ((other_api, 404), (visitor, 401)):
        for method, path, body in calls:
            import json

            response = getattr(client.client, method)(
                f"/api/v1{path}", json.dumps(body) if body else None, content_type="application/json",
                headers=client.headers)
            assert response.status_code == expected, (method, path, response.content)
    # The other user's own library and board list are empty; nothing of the owner's changed.
    assert other_api.get("/library").json()["items"] == []
    assert other_api.get("/library", collection=str(board.id)).status_code == 404
    assert other_api.get("/collections").json()["items"] == []
    assert other_api.post("/library/restore", {"items": [{"kind": "generation", "id": str(generation.id)}]}
                          ).status_code == 404
    assert Generation.objects.get(pk=generation.pk).deleted_at is None
    assert Upload.objects.get(pk=photo.pk).deleted_at is None
    assert GenerationImage.objects.get(pk=image.pk).deleted_at is None
    assert Star.objects.filter(owner=user, image=image).count() == 1
    assert Collection.objects.get(pk=board.pk).name == "Mine"
    assert list(CollectionItem.objects.filter(collection=board).values_list("image_id", flat=True)) == [image.pk]


def test_export_through_the_api(api, other_api, user, make_generation, django_capture_on_commit_callbacks):
    make_generation(user)
    assert api.get("/account/export").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/account/export")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    latest = api.get("/account/export").json()
    assert (latest["status"], latest["files_count"]) == ("ready", 1)
    assert latest["url"].startswith("http")
    assert other_api.get("/account/export").status_code == 404
    assert api.post("/account/export", {"notify": False}).status_code == 202  # the first was built: a new one


def test_the_export_endpoint_takes_a_json_body_or_none(api, user, django_capture_on_commit_callbacks):
    from django.core import mail

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/account/export", {"notify": False})
    assert response.status_code == 202 and mail.outbox == []
    assert api.post("/account/export", raw="{not json").status_code in (400, 422)


def test_generations_search_filters_by_status_and_prompt(api, user, other_api, make_generation, settings):
    fox = make_generation(user, prompt="a red fox in snow")
    settings.OFFLINE_ENGINE_FAILURE_RATE = 1.0
    from apps.generations import services as generation_services
    from tests.generations.factories import GenerationFactory

    failed = GenerationFactory(owner=user, prompt="a red fox at night")
    generation_services.generation_run(generation_id=failed.id)
    assert Generation.objects.get(pk=failed.pk).status == "failed"

    both = api.get("/library/generations", q="fox").json()["items"]
    assert [g["id"] for g in both] == [str(failed.id), str(fox.id)]
    only_failed = api.get("/library/generations", q="fox", status="failed").json()["items"]
    assert [g["id"] for g in only_failed] == [str(failed.id)]
    assert api.get("/library/generations", q="night", status="succeeded").json()["items"] == []
    assert other_api.get("/library/generations", q="fox").json()["items"] == []
