from datetime import timedelta

import pytest
from django.utils import timezone

from apps.credits.selectors import credits_balance_get
from apps.generations import services as generation_services
from apps.generations.models import Generation
from apps.openai_compat import services
from apps.openai_compat.errors import OpenAIError, from_application_error
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")


def test_a_generation_past_its_deadline_is_canceled_refunded_and_answered_504(user):
    generation = GenerationFactory(owner=user)  # queued: no worker runs it here
    Generation.objects.filter(pk=generation.pk).update(deadline_at=timezone.now() - timedelta(seconds=11))
    with pytest.raises(OpenAIError) as timeout:
        services.generation_wait(generation_id=generation.id, poll_seconds=0)
    assert from_application_error(timeout.value) == (504, {"error": {
        "message": "The image took too long to make and was stopped. You were not charged.",
        "type": "server_error", "param": None, "code": "timeout",
    }})
    generation.refresh_from_db()
    assert generation.status == "canceled"
    assert credits_balance_get(user=user) == 100


def test_a_failed_or_blocked_generation_is_an_openai_error(user):
    failed = GenerationFactory(owner=user)
    generation_services.generation_fail(generation_id=failed.id, code="provider_error", message="It broke.")
    with pytest.raises(OpenAIError) as error:
        services.images_response(Generation.objects.get(pk=failed.pk), b64=True)
    assert from_application_error(error.value) == (500, {"error": {
        "message": "It broke.", "type": "server_error", "param": None, "code": "provider_error",
    }})
    blocked = GenerationFactory(owner=user)
    generation_services.generation_reject(generation_id=blocked.id, message="Blocked by the safety check.")
    with pytest.raises(OpenAIError) as error:
        services.images_response(Generation.objects.get(pk=blocked.pk), b64=True)
    assert from_application_error(error.value) == (400, {"error": {
        "message": "Blocked by the safety check.", "type": "image_generation_user_error", "param": None,
        "code": "moderation_blocked",
    }})
