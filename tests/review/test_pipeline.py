"""Reviews run on real generations: safety before the image is visible, the other judges after,
verdicts in the API and on the card; blocked prompts never reach a provider and cost nothing."""

import pytest

from apps.credits.models import LedgerEntry
from apps.credits.selectors import credits_balance_get
from apps.generations import services as generation_services
from apps.generations.models import Generation
from apps.generations.schemas import generation_out
from apps.providers import router
from apps.review import selectors
from apps.review.exceptions import PromptBlockedError
from apps.review.models import BlockedTerm, ImageReview, ModerationItem
from apps.review.services import policy_get, review_generation_run
from tests.generations.factories import GenerationFactory
from tests.webhook_receiver import receiver  # noqa: F401

pytestmark = pytest.mark.usefixtures("catalog")


def run(generation) -> Generation:
    generation_services.generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    return generation


def test_a_generation_gets_a_verdict_with_scores_and_reasons(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        generation = run(GenerationFactory(owner=user, model_slug="offline-studio", tier="standard"))
    assert generation.status == "succeeded"
    review = ImageReview.objects.get(image__generation=generation)
    assert [j["name"] for j in review.judges] == ["safety", "format", "quality"]
    assert review.safety_passed is True
    assert 0 <= review.nsfw_score < 0.2
    assert review.quality_score == next(j["score"] for j in review.judges if j["name"] == "quality")
    assert review.reviewed_at is not None
    failed = sum(1 for j in review.judges if not j["passed"])
    assert review.verdict == ["green", "amber", "red", "red"][failed]
    image = generation_out(generation)["images"][0]
    assert image["review"]["verdict"] == review.verdict
    assert image["review"]["nsfw_score"] == review.nsfw_score
    assert [j["name"] for j in image["review"]["judges"]] == ["safety", "format", "quality"]
    assert all(j["reason"] for j in image["review"]["judges"])
    assert selectors.is_safety_clear(generation.images.get()) is True


def test_reviewing_twice_changes_nothing(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        generation = run(GenerationFactory(owner=user))
    before = ImageReview.objects.get(image__generation=generation)
    assert review_generation_run(generation_id=generation.id) == []
    after = ImageReview.objects.get(image__generation=generation)
    assert (after.judges, after.reviewed_at) == (before.judges, before.reviewed_at)


def test_a_flagged_image_is_withheld_before_it_is_ever_shown(user, client, django_capture_on_commit_callbacks):
    policy = policy_get()
    policy.thresholds = {"nsfw_max": 0.0}  # every image is flagged
    policy.save()
    seen = []

    def card_at_the_end(event):
        # The card as live.py draws it for the final event: the review must already be there.
        review = ImageReview.objects.filter(generation_id=event.generation_id).first()
        seen.append(review.safety_passed if review else "no review yet")

    from apps.core import events

    events.subscribe(events.GenerationFinished, card_at_the_end, in_transaction=True)
    try:
        generation = run(GenerationFactory(owner=user))
    finally:
        events.unsubscribe(events.GenerationFinished, card_at_the_end)
    assert seen == [False]
    image = generation.images.get()
    assert selectors.is_safety_clear(image) is False
    item = ModerationItem.objects.get(image=image)
    assert (item.kind, item.state, item.user_id) == ("image", "open", user.id)
    client.force_login(user)
    page = client.get(f"/generations/{generation.id}/").content.decode()
    assert "Hidden: may not be safe to show" in page
    assert image.thumbnail not in page and image.file not in page
    from apps.accounts.services import api_key_create

    key = {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(user=user, name='t').secret}"}
    (out,) = client.get(f"/api/v1/generations/{generation.id}", **key).json()["images"]
    assert (out["url"], out["preview_url"], out["thumbnail_url"], out["review"]["withheld"]) == (None, None, None, True)
    user.flagged_images = "blur"
    user.save()
    (out,) = client.get(f"/api/v1/generations/{generation.id}", **key).json()["images"]
    assert out["url"].startswith("http") and out["review"]["withheld"] is True  # the client blurs it
    Generation.objects.filter(pk=generation.pk).update(revision=generation.revision + 1)
    page = client.get(f"/generations/{generation.id}/").content.decode()
    assert 'class="result flagged"' in page
    assert "Show the flagged image" in page


@pytest.mark.parametrize("prompt", ["a shit painting of a cat", "portrait of a b00bs model"])
def test_a_prompt_from_the_word_list_is_refused_before_any_provider_call(user, monkeypatch, prompt):
    calls = []
    monkeypatch.setattr(router, "run", lambda *a, **k: calls.append(a))
    balance = credits_balance_get(user=user)
    with pytest.raises(PromptBlockedError) as refused:
        GenerationFactory(owner=user, prompt=prompt)
    assert refused.value.code == "prompt_blocked"
    assert refused.value.http_status == 422
    assert "You were not charged" in refused.value.message
    assert calls == []
    assert Generation.objects.filter(owner=user).count() == 0
    assert credits_balance_get(user=user) == balance
    assert LedgerEntry.objects.filter(user=user, generation__isnull=False).count() == 0
    item = ModerationItem.objects.get(user=user)
    assert (item.kind, item.prompt) == ("prompt", prompt)
    assert selectors.moderation_strikes(user.id) == 1


def test_staff_blocked_terms_and_patterns_refuse_prompts(user):
    BlockedTerm.objects.create(text="acme logo")
    BlockedTerm.objects.create(text=r"price\s*tag", is_pattern=True)
    for prompt in ("the ACME logo on a mug", "a shirt with the price  tag on"):
        with pytest.raises(PromptBlockedError):
            GenerationFactory(owner=user, prompt=prompt)
    # Whole words only: "acme logos" is another phrase, "acmelogo" another word.
    assert GenerationFactory(owner=user, prompt="an acmelogo font sample").status == "queued"
    assert [i.matched for i in ModerationItem.objects.order_by("created_at")] == ["acme logo", r"/price\s*tag/"]


def test_the_api_refuses_a_blocked_prompt_with_a_clear_422(user, client):
    from apps.accounts.services import api_key_create

    key = api_key_create(user=user, name="t").secret
    response = client.post("/api/v1/generations", {"model": "offline-sketch", "prompt": "fuck this"},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "prompt_blocked"
    assert "offline" not in body["detail"] and "better" not in body["detail"]
    assert Generation.objects.filter(owner=user).count() == 0


def test_a_red_image_is_made_again_once_and_paid_for_once(user, client, django_capture_on_commit_callbacks):
    from apps.credits.services import credits_reconcile
    from apps.review.models import Regeneration

    policy = policy_get()
    # Two judges fail on every image: red.
    policy.thresholds = {"quality_min": 1.1, "sharpness_min": 1.1, "shape_drift_max": -1}
    policy.save()
    balance = credits_balance_get(user=user)
    with django_capture_on_commit_callbacks(execute=True):
        first = run(GenerationFactory(owner=user, model_slug="offline-studio", tier="standard"))
    assert ImageReview.objects.get(image__generation=first).verdict == "red"
    link = Regeneration.objects.get(original=first)
    second = link.replacement
    assert second.status == "succeeded"
    assert second.seed != first.seed
    assert (second.prompt, second.params["tier"]) == (first.prompt, first.params["tier"])
    # The replacement is red too, but made again only once.
    assert ImageReview.objects.get(image__generation=second).verdict == "red"
    assert Generation.objects.filter(owner=user).count() == 2
    assert link.refunded_credits == first.charged_credits > 0
    assert credits_balance_get(user=user) == balance - second.charged_credits
    report = credits_reconcile()
    assert (report["balance_mismatches"], report["settlement_mismatches"]) == ([], [])
    client.force_login(user)
    page = client.get(f"/generations/{first.id}/").content.decode()
    assert f'href="/generations/{second.id}/">made again with a new seed</a>' in page
    assert f"Its {first.charged_credits} credits were returned" in page
    page = client.get(f"/generations/{second.id}/").content.decode()
    assert f'<a href="/generations/{first.id}/">the first image</a> failed its review' in page


def test_red_does_not_regenerate_when_staff_turn_it_off(user, django_capture_on_commit_callbacks):
    from apps.review.models import Regeneration

    policy = policy_get()
    policy.thresholds = {"quality_min": 1.1, "sharpness_min": 1.1, "shape_drift_max": -1}
    policy.regenerate_on_red = False
    policy.save()
    with django_capture_on_commit_callbacks(execute=True):
        first = run(GenerationFactory(owner=user, model_slug="offline-studio", tier="standard"))
    assert ImageReview.objects.get(image__generation=first).verdict == "red"
    assert Regeneration.objects.count() == 0
    assert Generation.objects.filter(owner=user).count() == 1


@pytest.mark.parametrize("prompt", [
    "p33", "a knight about to kill a dragon", "a gay couple at a wedding", "the gates of hell",
    "a cock crowing at dawn", "Greek god of the sea",
])
def test_ordinary_prompts_pass_the_word_list(user, prompt):
    assert GenerationFactory(owner=user, prompt=prompt).status == "queued"


def test_staff_allow_more_words_of_the_list(user):
    with pytest.raises(PromptBlockedError):
        GenerationFactory(owner=user, prompt="a naked tree in winter")
    policy = policy_get()
    policy.allowed_words = "Naked, nude"
    policy.save()
    assert GenerationFactory(owner=user, prompt="a naked tree in winter").status == "queued"


def test_a_new_blocked_term_applies_at_once_though_the_rules_are_cached(user, django_assert_max_num_queries):
    from apps.review.services import moderation_rules

    assert GenerationFactory(owner=user, prompt="a mug with the zorblax logo").status == "queued"
    with django_assert_max_num_queries(0):
        moderation_rules()  # cached by the submit above
    term = BlockedTerm.objects.create(text="zorblax")
    with pytest.raises(PromptBlockedError):
        GenerationFactory(owner=user, prompt="a mug with the zorblax logo")
    term.delete()
    assert GenerationFactory(owner=user, prompt="a mug with the zorblax logo").status == "queued"


def test_webhooks_carry_the_review_and_a_reviewed_event_follows(user, receiver, django_capture_on_commit_callbacks):  # noqa: F811
    import json

    from apps.hooks import services as hook_services
    from apps.hooks.models import WebhookDelivery

    hook_services.webhook_endpoint_create(user=user, url=receiver.url,
                                          events=["generation.succeeded", "generation.reviewed"])
    with django_capture_on_commit_callbacks(execute=True):
        generation = run(GenerationFactory(owner=user))
    deliveries = list(WebhookDelivery.objects.order_by("pk"))
    assert [d.event_type for d in deliveries] == ["generation.succeeded", "generation.reviewed"]
    succeeded, reviewed = (json.loads(d.payload)["data"]["images"][0]["review"] for d in deliveries)
    # At the end only safety has run; the reviewed event has every judge and the verdict.
    assert succeeded["verdict"] == "pending"
    assert [j["name"] for j in succeeded["judges"]] == ["safety"]
    review = ImageReview.objects.get(image__generation=generation)
    assert reviewed["verdict"] == review.verdict
    assert [j["name"] for j in reviewed["judges"]] == ["safety", "format", "quality"]
    assert [json.loads(r.body)["type"] for r in receiver.requests] == ["generation.succeeded", "generation.reviewed"]


def test_a_reused_result_takes_its_sources_review(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = run(GenerationFactory(owner=user, seed="5"))
    source = ImageReview.objects.get(generation=first)
    ImageReview.objects.filter(pk=source.pk).update(staff_hidden=True)
    with django_capture_on_commit_callbacks(execute=False):  # before any task has run
        again = GenerationFactory(owner=user, seed="5", prompt=first.prompt)
        assert again.cached_from_id == first.pk
        image = again.images.select_related("review").get()
        assert selectors.image_shown_as(image.review, user) == "withheld"
    copy = ImageReview.objects.get(generation=again)
    assert (copy.verdict, copy.judges, copy.nsfw_score, copy.staff_hidden) == (
        source.verdict, source.judges, source.nsfw_score, True)
    assert selectors.is_safety_clear(again.images.get()) is False


def test_a_models_quality_pass_rate_needs_enough_reviews(user, monkeypatch, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    from apps.review import selectors
    from apps.review.models import ImageReview

    monkeypatch.setattr(selectors, "PASS_RATE_MIN_REVIEWS", 3)
    with django_capture_on_commit_callbacks(execute=True):
        generations = [run(GenerationFactory(owner=user, model_slug="offline-sketch", seed=n)) for n in range(4)]
    ImageReview.objects.update(reviewed_at=None)  # not reviewed yet: only those judged below count

    def judged(generation, passed: bool):
        ImageReview.objects.filter(generation=generation).update(reviewed_at=generation.created_at, judges=[
            {"name": "quality", "passed": passed, "score": 0.5, "reason": "", "reviewed": True}])

    for generation, passed in zip(generations[:2], (True, False), strict=True):
        judged(generation, passed)
    cache.delete("review:pass-rate:offline-sketch")
    assert selectors.model_quality_pass_rate("offline-sketch") is None  # two reviews: too few to say
    for generation in generations[2:]:
        judged(generation, True)
    assert selectors.model_quality_pass_rate("offline-sketch") is None  # cached for a few minutes
    cache.delete("review:pass-rate:offline-sketch")
    assert selectors.model_quality_pass_rate("offline-sketch") == 0.75
