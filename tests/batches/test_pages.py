"""The batches page: the price before "Start batch", ratio, size and count for a prompt list, sweeps,
a header that moves with the cards, and a download that says when it is partial."""

import re
from unittest import mock

import pytest
from django.test import Client

from apps.batches import live, services
from apps.batches.models import Batch
from apps.core import events
from apps.generations import services as generation_services
from apps.generations.models import Generation

pytestmark = [pytest.mark.usefixtures("catalog"), pytest.mark.django_db]


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()


def quote_of(page: str) -> str:
    return text(re.search(r'<p id="batch-quote".*?</p>', page, re.S).group(0))


def test_the_page_offers_ratio_size_and_count_for_a_prompt_list(browser):
    page = browser.get("/batches/").content.decode()
    assert 'name="aspect_ratio" value="16:9"' in page
    assert re.search(r'<option value="standard"[^>]*>Standard · 1024×1024 · 2 credits per image</option>', page)
    assert re.search(r'<select id="id_num_images" name="num_images">\s*<option value="1" selected>1</option>', page)
    assert "Parameter sweeps are in the API" not in page


def test_the_price_shows_before_starting_and_nothing_starts(browser, user):
    form = {"model": "offline-sketch", "prompts": "a kite\n\na fox\n", "tier": "standard", "num_images": "3"}
    quote = browser.post("/batches/quote/", form).content.decode()
    assert quote_of(quote) == "2 generations · 6 images · Price: 12 credits of your 100"
    checked = browser.post("/batches/", {**form, "action": "quote"})  # "Check price", without JavaScript
    assert checked.status_code == 200 and quote_of(checked.content.decode()) == (
        "2 generations · 6 images · Price: 12 credits of your 100")
    too_dear = browser.post("/batches/quote/", {**form, "num_images": "4", "prompts": "x\n" * 13}).content.decode()
    assert quote_of(too_dear) == ("13 generations · 52 images · Price: 104 credits More than your 100 credits: "
                                  "nothing would start. Get credits")
    assert quote_of(browser.post("/batches/quote/", {"model": "offline-sketch"}).content.decode()) == (
        "Add a prompt to see the price.")
    assert Batch.objects.count() == Generation.objects.count() == 0


def test_changing_the_model_redraws_its_options_and_the_price(browser):
    html = browser.post("/batches/options/", {"model": "offline-sketch", "prompts": "a kite"}).content.decode()
    assert html.startswith('\n    <div id="batch-options"') or '<div id="batch-options"' in html.split("\n", 3)[1]
    assert re.search(r'<p id="batch-quote"[^>]*hx-swap-oob="true"', html)
    assert "1 generation · Price: 1 credit of your 100" in quote_of(html)


def test_a_prompt_list_starts_with_its_ratio_size_and_count(browser):
    response = browser.post("/batches/", {"model": "offline-sketch", "prompts": "a kite\na fox", "tier": "standard",
                                          "aspect_ratio": "16:9", "num_images": "2"})
    batch = Batch.objects.get()
    assert response.status_code == 302 and (batch.source, batch.total, batch.quoted_credits) == ("prompts", 2, 8)
    assert sorted((g.prompt, g.params["aspect_ratio"], g.params["tier"], g.num_images)
                  for g in Generation.objects.all()) == [
        ("a fox", "16:9", "standard", 2), ("a kite", "16:9", "standard", 2),
    ]


def test_a_sweep_from_the_page_makes_every_combination(browser):
    form = {"model": "offline-sketch", "prompts": "a kite\na fox", "tier": "draft",
            "sweep-0-field": "seed", "sweep-0-values": "1 | 2",
            "sweep-1-field": "aspect_ratio", "sweep-1-values": "1:1|16:9", "sweep-1-pair": "on",
            "sweep-2-field": "", "sweep-2-values": "ignored"}
    assert quote_of(browser.post("/batches/quote/", form).content.decode()) == (
        "4 generations · Price: 4 credits of your 100")
    browser.post("/batches/", form)
    batch = Batch.objects.get()
    assert (batch.source, batch.total) == ("sweep", 4)
    assert sorted((g.prompt, g.seed, g.params["aspect_ratio"]) for g in Generation.objects.all()) == [
        ("a fox", "1", "1:1"), ("a fox", "2", "16:9"), ("a kite", "1", "1:1"), ("a kite", "2", "16:9"),
    ]


def test_a_running_batch_offers_a_partial_download_and_an_ended_one_all(browser, user):
    batch = services.batch_create(user=user, source="prompts",
                                  items=[{"model": "offline-sketch", "prompt": p} for p in ("a", "b")])
    first, second = (item.generation for item in batch.items.order_by("index"))
    generation_services.generation_fail(generation_id=first.pk, code="engine_failure", message="x")
    page = browser.get(f"/batches/{batch.pk}/").content.decode()
    assert "Download" not in text(re.search(r'<section id="batch-progress".*?</section>', page, re.S).group(0))
    Generation.objects.filter(pk=first.pk).update(status="succeeded")
    page = browser.get(f"/batches/{batch.pk}/progress/").content.decode()
    assert "Download the 1 done so far (partial zip)" in text(page) and "Download all" not in page
    Generation.objects.filter(pk=second.pk).update(status="canceled")
    page = browser.get(f"/batches/{batch.pk}/progress/").content.decode()
    assert "Download all (zip)" in text(page) and "partial" not in page


def test_a_batch_event_carries_the_progress_header(user):
    batch = services.batch_create(user=user, source="prompts",
                                  items=[{"model": "offline-sketch", "prompt": p} for p in ("a", "b")])
    first = batch.items.order_by("index").first().generation
    Generation.objects.filter(pk=first.pk).update(status="succeeded")
    sent = []
    with mock.patch.object(live, "publish_to_user", lambda **kw: sent.append(kw)):
        live.batch_publish(events.BatchProgressed(batch_id=str(batch.pk), user_id=user.pk))
    [message] = sent
    assert message["event"] == "batch.progress" and message["data"]["succeeded"] == 1
    header = re.search(r'<section id="batch-progress"[^>]*>', message["html"]).group(0)
    assert 'hx-swap-oob="true"' in header and 'data-revision="1"' in header
    assert "1 of 2 ended (1 done)" in text(message["html"])
