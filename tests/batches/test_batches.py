import csv
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient, Client
from standardwebhooks.webhooks import Webhook

from apps.accounts.services import api_key_create
from apps.batches import services
from apps.batches.models import Batch, BatchItem
from apps.credits.selectors import credits_balance_get
from apps.generations.models import Generation
from apps.hooks import services as hook_services
from apps.realtime.models import Event
from tests.accounts.factories import PASSWORD
from tests.apiclient import ApiClient

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def secret(user):
    return api_key_create(user=user, name="batches").secret


@pytest.fixture
def api(secret):
    return ApiClient(secret)


def csv_text(rows: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["prompt", "seed", "aspect_ratio"])
    for n in range(rows):
        writer.writerow([f"lighthouse number {n}", n, "16:9" if n % 2 else ""])
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
async def test_a_100_prompt_csv_batch_completes_with_live_progress_and_downloads_as_a_zip(
    user, secret, receiver, settings
):
    from asgiref.sync import sync_to_async

    # The default limits: a batch is one job however many generations it holds, so 100 items fit the
    # concurrent-jobs limit (32), the hourly limit (300) and the daily cap (5000 credits).
    assert (settings.RATE_LIMIT_CONCURRENT_JOBS, settings.RATE_LIMIT_GENERATIONS_PER_HOUR,
            settings.USER_DAILY_SPEND_CAP) == (32, 300, 5000)
    endpoint = await sync_to_async(hook_services.webhook_endpoint_create)(
        user=user, url=receiver.url, events=["batch.finished"]
    )
    api = ApiClient(secret)
    response = await sync_to_async(api.post)(
        "/batches", {"name": "Lighthouses", "model": "offline-sketch", "tier": "draft", "csv": csv_text(100)}
    )
    assert response.status_code == 201, response.content
    created = response.json()
    batch = await Batch.objects.aget()
    # Eager Celery ran every generation at commit; the response was written before that.
    assert (created["total"], created["quoted_credits"], created["source"], created["name"]) == (
        100, 100, "csv", "Lighthouses",
    )
    body = (await sync_to_async(api.get)(f"/batches/{batch.pk}")).json()
    assert body | {"created_at": None, "finished_at": None} == {
        "id": str(batch.pk), "name": "Lighthouses", "source": "csv", "status": "finished", "total": 100,
        "quoted_credits": 100, "charged_credits": 100, "images_delivered": 100, "progress": 1.0,
        "counts": {"active": 0, "succeeded": 100, "failed": 0, "canceled": 0, "rejected": 0},
        "download_url": f"http://127.0.0.1:8000/api/v1/batches/{batch.pk}/download",
        "created_at": None, "finished_at": None,
    }
    assert await sync_to_async(credits_balance_get)(user=user) == 0
    # Live progress: one batch.progress per ended generation, then one batch.finished (also on SSE).
    types = [t async for t in Event.objects.filter(user=user, type__startswith="batch.").order_by("seq")
             .values_list("type", flat=True)]
    assert types == ["batch.progress"] * 99 + ["batch.finished"]
    finished = await Event.objects.aget(user=user, type="batch.finished")
    assert (finished.data["succeeded"], finished.data["progress"], finished.data["status"]) == (100, 1.0, "finished")
    [delivery] = receiver.requests
    payload = Webhook(endpoint.secret).verify(delivery.body, delivery.headers)
    assert (payload["type"], payload["data"]["id"], payload["data"]["counts"]["succeeded"]) == (
        "batch.finished", str(batch.pk), 100,
    )
    items = (await sync_to_async(api.get)(f"/batches/{batch.pk}/items", limit=3)).json()
    assert [(i["index"], i["generation"]["prompt"], i["generation"]["aspect_ratio"]) for i in items["items"]] == [
        (0, "lighthouse number 0", "1:1"), (1, "lighthouse number 1", "16:9"), (2, "lighthouse number 2", "1:1"),
    ]
    # The zip streams: a chunk per image.
    download = await AsyncClient().get(f"/api/v1/batches/{batch.pk}/download",
                                       headers={"Authorization": f"Bearer {secret}"})
    assert (download.status_code, download["Content-Type"]) == (200, "application/zip")
    assert download["Content-Disposition"] == 'attachment; filename="darkroom-batch-lighthouses.zip"'
    chunks = [chunk async for chunk in download.streaming_content]
    assert len(chunks) >= 101
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    names = archive.namelist()
    assert names[0] == "manifest.csv" and len(names) == 101
    assert names[1:3] == ["0001-lighthouse-number-0-1.png", "0002-lighthouse-number-1-1.png"]
    assert archive.testzip() is None
    manifest = list(csv.reader(io.StringIO(archive.read("manifest.csv").decode())))
    assert manifest[0] == ["index", "status", "model", "prompt", "aspect_ratio", "tier", "seed", "files"]
    assert manifest[2] == ["2", "succeeded", "offline-sketch", "lighthouse number 1", "16:9", "draft", "1",
                           "0002-lighthouse-number-1-1.png"]
    first = await Generation.objects.select_related().aget(prompt="lighthouse number 0")
    image = await first.images.aget()
    from apps.media.storage import file_read

    assert archive.read(names[1]) == await sync_to_async(file_read)(image.file)


@pytest.mark.django_db
def test_a_batch_the_credits_dont_cover_is_refused_whole(api, user):
    response = api.post("/batches", {"model": "offline-sketch", "prompts": [f"p{n}" for n in range(30)] * 4})
    assert (response.status_code, response.json()) == (
        402, {"detail": "This needs 120 credits and your balance is 100.", "code": "insufficient_credits"},
    )
    assert (Batch.objects.count(), Generation.objects.count(), credits_balance_get(user=user)) == (0, 0, 100)


@pytest.mark.django_db
def test_one_bad_item_refuses_the_batch_and_names_it(api, user):
    text = "prompt,tier\na,draft\nb,standard\nc,huge\n"
    response = api.post("/batches", {"model": "offline-sketch", "csv": text})
    assert (response.status_code, response.json()) == (
        422, {"detail": "Item 3: Offline Sketch offers these sizes: draft, standard.", "code": "invalid_batch"},
    )
    assert (Batch.objects.count(), Generation.objects.count(), credits_balance_get(user=user)) == (0, 0, 100)


@pytest.mark.django_db
def test_an_item_refused_by_generation_create_rolls_everything_back(api, user):
    response = api.post("/batches", {"model": "offline-sketch", "prompts": ["fine", "   "]})
    assert (response.status_code, response.json()) == (
        422, {"detail": "Item 2: Describe the image you want in the prompt.", "code": "invalid_request"},
    )
    assert (Batch.objects.count(), Generation.objects.count(), credits_balance_get(user=user)) == (0, 0, 100)


@pytest.mark.django_db
def test_a_batch_is_one_job_against_the_concurrent_jobs_limit(api, user, settings):
    # Without a commit nothing runs: every generation stays queued, so every one stays active.
    settings.RATE_LIMIT_CONCURRENT_JOBS = 3
    big = api.post("/batches", {"model": "offline-sketch", "prompts": [f"p{n}" for n in range(40)]})
    assert big.status_code == 201, big.content
    # Beside a running batch, other jobs start up to the limit: the batch is one, these two make three.
    for prompt in ("solo one", "solo two"):
        assert api.post("/generations", {"model": "offline-sketch", "prompt": prompt}).status_code == 201
    refused = api.post("/generations", {"model": "offline-sketch", "prompt": "solo three"})
    assert (refused.status_code, refused.headers["Retry-After"], refused.json()) == (429, "10", {
        "detail": "You have 3 jobs (a batch counts as one) in progress, the most at once. "
                  "Start another when one finishes (try again in 10 seconds).",
        "code": "too_many_active",
    })
    second = api.post("/batches", {"model": "offline-sketch", "prompts": ["q1", "q2"]})
    assert (second.status_code, second.json()["code"]) == (429, "too_many_active")
    assert second.json()["detail"].startswith("Item 1: You have 3 jobs (a batch counts as one) in progress")
    assert (Batch.objects.count(), Generation.objects.count(), credits_balance_get(user=user)) == (1, 42, 58)
    # Canceling the batch frees its one slot for the next batch.
    assert api.post(f"/batches/{big.json()['id']}/cancel").status_code == 200
    assert api.post("/batches", {"model": "offline-sketch", "prompts": ["q1", "q2"]}).status_code == 201


@pytest.mark.django_db
def test_the_hourly_limit_counts_every_generation_of_a_batch(api, user, settings):
    settings.RATE_LIMIT_GENERATIONS_PER_HOUR = 10
    response = api.post("/batches", {"model": "offline-sketch", "prompts": [f"p{n}" for n in range(11)]})
    assert (response.status_code, response.json()) == (429, {
        "detail": "Item 11: You can start 10 generations an hour. Try again in 1 hour.", "code": "rate_limited",
    })
    assert (Batch.objects.count(), Generation.objects.count(), credits_balance_get(user=user)) == (0, 0, 100)
    assert api.post("/batches", {"model": "offline-sketch", "prompts": [f"p{n}" for n in range(10)]}).status_code == 201


@pytest.mark.django_db
def test_a_sweep_zips_within_groups_and_multiplies_across_them(api):
    response = api.post("/batches", {
        "model": "offline-sketch", "sweep": [
            [{"field": "prompt", "values": ["a fox", "an owl"]}, {"field": "seed", "values": [1, 2]}],
            [{"field": "aspect_ratio", "values": ["1:1", "16:9"]}],
        ],
    })
    assert response.status_code == 201
    items = BatchItem.objects.select_related("generation").order_by("index")
    assert [(i.generation.prompt, i.generation.seed, i.generation.params["aspect_ratio"]) for i in items] == [
        ("a fox", "1", "1:1"), ("a fox", "1", "16:9"), ("an owl", "2", "1:1"), ("an owl", "2", "16:9"),
    ]
    assert response.json()["source"] == "sweep" and response.json()["quoted_credits"] == 4


@pytest.mark.django_db
@pytest.mark.parametrize("body, detail", [
    ({"csv": "title\nx\n"}, "The CSV needs a header row with a `prompt` column."),
    ({"csv": "prompt,colour\nx,red\n"}, ("Unknown CSV column colour: use prompt, model, negative_prompt, "
                                         "aspect_ratio, tier, num_images, seed.")),
    ({"csv": "prompt,num_images\nx,two\n"}, "Line 2: num_images must be a whole number, not 'two'."),
    ({"csv": "prompt,seed\n,4\n"}, "Line 2 has no prompt."),
    ({"prompts": []}, "The batch is empty: give at least one prompt."),
    ({"prompts": ["a"], "csv": "prompt\nb\n"}, "Give exactly one of prompts, csv or sweep."),
    ({"sweep": [[{"field": "prompt", "values": ["a", "b"]}, {"field": "seed", "values": [1]}]]},
     "Sweep group 1: its value lists must be non-empty and of equal length."),
])
def test_malformed_batches_are_clear_422s(api, body, detail):
    response = api.post("/batches", {"model": "offline-sketch", **body})
    assert (response.status_code, response.json()) == (422, {"detail": detail, "code": "invalid_batch"})
    assert Generation.objects.count() == 0


@pytest.mark.django_db
def test_cancel_cancels_the_rest_and_returns_their_credits(api, user):
    # Without a commit (no transaction=True) nothing runs: every generation stays queued.
    batch = services.batch_create(user=user, items=[{"model": "offline-sketch", "prompt": f"p{n}"} for n in range(3)],
                                  source="prompts")
    assert credits_balance_get(user=user) == 97
    response = api.post(f"/batches/{batch.pk}/cancel")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["counts"]["canceled"]) == ("canceled", 3)
    assert response.json()["finished_at"] is not None
    assert credits_balance_get(user=user) == 100
    assert set(Generation.objects.values_list("status", flat=True)) == {"canceled"}
    assert (api.get(f"/batches/{batch.pk}/download").status_code,
            api.get(f"/batches/{batch.pk}/download").json()["code"]) == (409, "batch_has_no_images")


@pytest.mark.django_db
def test_another_users_batch_is_404(api, other_user):
    theirs = services.batch_create(user=other_user, items=[{"model": "offline-sketch", "prompt": "x"}],
                                   source="prompts")
    for response in (api.get(f"/batches/{theirs.pk}"), api.get(f"/batches/{theirs.pk}/items"),
                     api.post(f"/batches/{theirs.pk}/cancel"), api.get(f"/batches/{theirs.pk}/download")):
        assert (response.status_code, response.json()) == (404, {"detail": "Batch not found.", "code": "not_found"})
    assert Generation.objects.get().status == "queued"
    assert api.get("/batches").json() == {"items": [], "next_cursor": None}


@pytest.mark.django_db(transaction=True)
def test_the_batches_page_takes_a_csv_file_and_shows_progress(user, other_user):
    client = Client()
    assert client.login(email=user.email, password=PASSWORD)
    upload = SimpleUploadedFile("prompts.csv", csv_text(3).encode(), content_type="text/csv")
    response = client.post("/batches/", {"name": "Three", "model": "offline-sketch", "csv_file": upload})
    batch = Batch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/batches/{batch.pk}/"
    page = client.get(f"/batches/{batch.pk}/").content.decode()
    assert "<strong>Finished</strong> — 3 of 3 ended\n    (3 done).</p>" in page
    assert 'hx-trigger="every 2s"' not in page  # a finished batch stops polling
    assert page.count('class="card status-succeeded"') == 3
    assert "Download all (zip)" in page
    download = client.get(f"/batches/{batch.pk}/download/")
    assert zipfile.ZipFile(io.BytesIO(b"".join(download))).namelist()[0] == "manifest.csv"
    stranger = Client()
    assert stranger.login(email=other_user.email, password=PASSWORD)
    assert stranger.get(f"/batches/{batch.pk}/").status_code == 404
    assert stranger.get(f"/batches/{batch.pk}/download/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("text", [
    "prompt\n" + "x" * 200_000 + "\n",  # a cell over the csv module's field limit
    "p" * 200_000 + ",prompt\nkite,kite\n",  # in the header
    'prompt\n"a kite\n' + "y" * 140_000,  # a quote left open to the end
])
def test_a_csv_the_csv_module_cannot_read_is_a_clear_refusal(api, user, text):
    response = api.post("/batches", {"model": "offline-sketch", "csv": text})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_batch"), response.content[:300]
    assert "can't be read" in response.json()["detail"]
    client = Client()
    assert client.login(email=user.email, password=PASSWORD)
    upload = SimpleUploadedFile("prompts.csv", text.encode(), content_type="text/csv")
    page = client.post("/batches/", {"model": "offline-sketch", "csv_file": upload})
    assert page.status_code == 422 and b"can&#x27;t be read" in page.content
    assert Batch.objects.count() == 0


@pytest.mark.django_db
def test_manifest_cells_that_a_spreadsheet_would_run_as_formulas_are_escaped(user):
    from apps.batches.download import _entries

    prompts = ['=HYPERLINK("http://x.invalid","click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
               "a plain lighthouse"]
    batch = services.batch_create(user=user, items=[{"model": "offline-sketch", "prompt": p} for p in prompts],
                                  source="prompts")
    _, manifest = _entries(batch)
    rows = list(csv.reader(io.StringIO(manifest.decode())))
    assert [row[3] for row in rows[1:]] == [
        '\'=HYPERLINK("http://x.invalid","click")', "'+cmd|' /C calc'!A0", "'-2+3", "'@SUM(A1)",
        "a plain lighthouse",
    ]
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "4", "5"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", [
    {"model": "offline-sketch", "prompts": ["a kite"], "num_images": True},
    {"model": "offline-sketch", "prompt": "a kite", "sweep": [[{"field": "num_images", "values": [True, 2]}]]},
    {"model": "offline-sketch", "prompts": ["a kite"], "seed": False},
])
def test_a_boolean_where_a_number_goes_is_refused(api, body):
    response = api.post("/batches", body)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_request"), response.content
    assert "not true or false" in response.json()["detail"]
    assert Batch.objects.count() == 0
