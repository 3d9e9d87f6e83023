"""The staff moderation queue: flagged images and refused prompts, decided in the admin, audited."""

import pytest
from django.urls import reverse

from apps.generations.models import Generation
from apps.review import selectors
from apps.review.exceptions import PromptBlockedError
from apps.review.models import ImageReview, ModerationAction, ModerationItem
from apps.review.services import moderation_decide, policy_get, review_report_image
from tests.accounts.factories import UserFactory
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def staff(db):
    person = UserFactory()
    person.is_staff = person.is_superuser = True
    person.save()
    return person


def flagged_generation(owner) -> Generation:
    from apps.generations import services

    policy = policy_get()
    policy.thresholds = {"nsfw_max": 0.0}
    policy.save()
    generation = GenerationFactory(owner=owner)
    services.generation_run(generation_id=generation.id)
    policy.thresholds = {}
    policy.save()
    return generation


def test_staff_clear_the_queue_in_the_admin_and_each_decision_is_recorded(client, staff, user):
    first, second = flagged_generation(user), flagged_generation(user)
    with pytest.raises(PromptBlockedError):
        GenerationFactory(owner=user, prompt="shit")
    items = {i.kind: i for i in ModerationItem.objects.filter(kind="prompt")}
    flag_1 = ModerationItem.objects.get(image__generation=first)
    flag_2 = ModerationItem.objects.get(image__generation=second)
    client.force_login(staff)
    url = reverse("admin:review_moderationitem_changelist")
    page = client.get(url + "?state__exact=open").content.decode()
    assert page.count('class="mod-thumb"') == 2
    assert "shit" in page
    for action, item in (("approve", flag_1), ("hide", flag_2), ("approve", items["prompt"])):
        response = client.post(url, {"action": action, "_selected_action": [item.pk]})
        assert response.status_code == 302
    assert list(ModerationItem.objects.filter(state="open")) == []
    assert [(a.action, a.actor_id, a.item_id) for a in ModerationAction.objects.order_by("created_at")] == [
        ("approve", staff.id, flag_1.id), ("hide", staff.id, flag_2.id), ("approve", staff.id, items["prompt"].id),
    ]
    assert selectors.is_safety_clear(first.images.get()) is True
    assert selectors.is_safety_clear(second.images.get()) is False
    assert ImageReview.objects.get(image__generation=second).withheld is True
    # One strike: the hidden image (the approved prompt and image don't count).
    assert selectors.moderation_strikes(user.id) == 1
    page = client.get(url).content.decode()
    assert '<td class="field-strikes">1</td>' in page


def test_a_report_puts_an_image_in_the_queue_once(user, other_user):
    from apps.generations import services

    generation = GenerationFactory(owner=user)
    services.generation_run(generation_id=generation.id)
    image = generation.images.get()
    first = review_report_image(image=image, reporter=other_user, reason="Shows a real person's face")
    again = review_report_image(image=image, reporter=other_user, reason="again")
    assert first.pk == again.pk
    assert (first.kind, first.state, first.user_id, first.reporter_id, first.reason) == (
        "report", "open", user.id, other_user.id, "Shows a real person's face")


def test_deleting_removes_the_files_and_keeps_the_record(user, staff, django_capture_on_commit_callbacks):
    from django.core.files.storage import default_storage

    generation = flagged_generation(user)
    image = generation.images.get()
    item = ModerationItem.objects.get(image=image)
    with django_capture_on_commit_callbacks(execute=True):
        moderation_decide(item_id=item.pk, actor=staff, action="delete", note="illegal")
    assert not default_storage.exists(image.file)
    assert not default_storage.exists(image.thumbnail)
    item.refresh_from_db()
    assert (item.state, item.decided_by_id) == ("deleted", staff.id)
    assert ModerationAction.objects.get(item=item).note == "illegal"
    assert selectors.is_safety_clear(image) is False


def test_the_owner_chooses_hidden_or_blurred_on_the_safety_page(client, user):
    client.force_login(user)
    page = client.get("/account/safety/")
    assert page.status_code == 200
    assert 'value="hide" checked' in page.content.decode()
    assert client.post("/account/safety/", {"flagged_images": "blur"}).status_code == 302
    user.refresh_from_db()
    assert user.flagged_images == "blur"
    bad = client.post("/account/safety/", {"flagged_images": "show-everything"})
    assert bad.status_code == 422
    assert "Choose how flagged images are shown." in bad.content.decode()
    user.refresh_from_db()
    assert user.flagged_images == "blur"


def test_staff_see_pass_rates_and_judge_latency_by_model(client, staff, user, django_capture_on_commit_callbacks):
    from apps.generations import services

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            generation = GenerationFactory(owner=user, model_slug="offline-studio", tier="standard")
            services.generation_run(generation_id=generation.id)
    stats = selectors.review_stats(days=30)
    [model] = stats["models"]
    reviews = list(ImageReview.objects.all())
    assert (model["model"], model["images"]) == ("Offline Studio", 2)
    passed = sum(1 for r in reviews for j in r.judges if j["name"] == "quality" and j["passed"])
    assert model["quality_pass_rate"] == round(passed / 2, 3)
    assert [(j["judge"], j["runs"], j["decided"]) for j in stats["judges"]] == [
        ("format", 2, 2), ("quality", 2, 2), ("safety", 2, 2)]
    assert all(j["median_ms"] > 0 for j in stats["judges"])
    client.force_login(staff)
    page = client.get(reverse("admin:review_pass_rates")).content.decode()
    assert "<td>Offline Studio</td><td>2</td>" in page
    assert reverse("admin:review_pass_rates") in client.get(reverse("admin:review_imagereview_changelist")).content.decode()
