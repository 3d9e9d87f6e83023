"""The hosted judges against a loopback fake that speaks the OpenAI chat-completions and moderations
protocols: the vision judge's verdict and reason, its time budget, and prompt moderation."""

import pytest
from PIL import ImageDraw

from apps.review.contract import ReviewRequest, TaskKind, verdict_of
from apps.review.exceptions import PromptBlockedError
from apps.review.judges import vision
from apps.review.models import ImageReview, ModerationItem
from apps.review.registry import DEFAULT_LIMITS
from apps.review.services import policy_get, policy_judges
from tests.generations.factories import GenerationFactory

from .fake_openai import fake_openai  # noqa: F401
from .images import textured

REQUEST = ReviewRequest(prompt="a lighthouse at dusk", task=TaskKind.TEXT_TO_IMAGE)


@pytest.fixture
def hosted(settings, fake_openai):  # noqa: F811
    settings.REVIEW_VISION_URL = fake_openai.url
    settings.REVIEW_VISION_API_KEY = "sk-test"
    settings.REVIEW_VISION_MODEL = "vision-test"
    settings.REVIEW_VISION_TIMEOUT_SECONDS = 5
    return fake_openai


def watermarked(image):
    image = image.copy()
    ImageDraw.Draw(image).rectangle([int(image.width * 0.65), int(image.height * 0.82), image.width, image.height],
                                    fill=(255, 255, 255))
    return image


def test_the_vision_judge_sends_the_image_with_its_rubric_and_reads_the_verdict(hosted):
    result = vision.judge(textured(512), REQUEST, DEFAULT_LIMITS)
    assert (result.passed, result.reviewed, result.score) == (True, True, 0.9)
    assert result.reason == "It shows what the prompt asks, with no text or watermark."
    sent = hosted.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["model"] == "vision-test"
    assert "a lighthouse at dusk" in sent["body"]["messages"][-1]["content"][0]["text"]
    assert "watermark" in sent["body"]["messages"][-1]["content"][0]["text"]
    assert hosted.keys == ["Bearer sk-test"]


def test_the_vision_judge_fails_a_watermarked_image_with_its_reasoning(hosted):
    result = vision.judge(watermarked(textured(512)), REQUEST, DEFAULT_LIMITS)
    assert (result.passed, result.reviewed) == (False, True)
    assert result.reason == "The model added a watermark in the lower-right."


def test_past_its_time_budget_the_image_is_not_reviewed_never_red(hosted, settings):
    settings.REVIEW_VISION_TIMEOUT_SECONDS = 0.3
    hosted.delay = 1.0
    result = vision.judge(watermarked(textured(512)), REQUEST, DEFAULT_LIMITS)
    assert (result.reviewed, result.reason) == (False, "The visual check took too long, so it gave no verdict.")
    assert result.seconds < 0.9
    assert verdict_of([result.as_dict()]) == "not_reviewed"
    # With the offline judges passing, a timed-out vision judge leaves the verdict green.
    assert verdict_of([{"passed": True}, result.as_dict()]) == "green"


def test_a_server_error_is_not_reviewed(hosted):
    hosted.status = 503
    result = vision.judge(textured(512), REQUEST, DEFAULT_LIMITS)
    assert (result.reviewed, result.reason) == (False, "The visual check could not be completed.")


def test_configured_the_vision_judge_joins_every_tasks_defaults_unless_staff_chose(db, hosted):
    policy = policy_get()
    assert [j.name for j in policy_judges(policy, "text-to-image")] == ["safety", "format", "quality", "vision"]
    policy.judges_by_task = {"text-to-image": ["safety", "format"]}
    assert [j.name for j in policy_judges(policy, "text-to-image")] == ["safety", "format"]


@pytest.mark.usefixtures("catalog")
def test_a_generation_reviewed_by_the_hosted_judge_shows_its_reason(user, hosted, django_capture_on_commit_callbacks):
    from apps.generations import services

    with django_capture_on_commit_callbacks(execute=True):
        generation = GenerationFactory(owner=user, model_slug="offline-studio", tier="standard")
        services.generation_run(generation_id=generation.id)
    review = ImageReview.objects.get(image__generation=generation)
    judged = {j["name"]: j for j in review.judges}
    assert judged["vision"]["reviewed"] is True
    assert judged["vision"]["reason"] in ("It shows what the prompt asks, with no text or watermark.",
                                          "The model added a watermark in the lower-right.")
    assert len(hosted.requests) == 1


@pytest.mark.usefixtures("catalog")
def test_the_moderation_endpoint_refuses_prompts_it_flags(user, settings, fake_openai):  # noqa: F811
    settings.REVIEW_MODERATION_URL = fake_openai.url
    settings.REVIEW_MODERATION_API_KEY = "sk-mod"
    with pytest.raises(PromptBlockedError):
        GenerationFactory(owner=user, prompt="a forbidden-by-fake scene")
    assert ModerationItem.objects.get(user=user).matched == "moderation: violence"
    assert GenerationFactory(owner=user, prompt="a quiet harbour").status == "queued"
    assert [r["body"]["input"] for r in fake_openai.requests] == ["a forbidden-by-fake scene\n", "a quiet harbour\n"]


@pytest.mark.usefixtures("catalog")
def test_an_unreachable_moderation_endpoint_does_not_block_prompts(user, settings, fake_openai):  # noqa: F811
    settings.REVIEW_MODERATION_URL = fake_openai.url
    fake_openai.status = 500
    assert GenerationFactory(owner=user, prompt="a quiet harbour").status == "queued"
