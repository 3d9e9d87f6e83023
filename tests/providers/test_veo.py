"""Veo makes a clip end to end through the simulator: text to an 8-second MP4, on fal (the video
answered as `video: {url}`) and, with fal not configured, on Replicate (one URL string)."""

import pytest

from apps.credits.selectors import credits_balance_get
from apps.credits.services import credits_adjust
from apps.generations import services
from apps.generations.models import Status
from apps.imaging import video
from apps.media.storage import file_read
from tests.accounts.factories import UserFactory
from tests.providers.conftest import poll_until_done


@pytest.mark.parametrize(("provider", "route"), [
    ("fal", "fal:POST /fal/fal-ai/veo3"),
    ("replicate", "replicate:POST /replicate/v1/models/google/veo-3/predictions"),
])
def test_veo_makes_a_clip_from_a_prompt(simulator, settings, catalog, user, scheduled_polls, provider, route):
    for vendor in ("fal", "replicate"):
        simulator.knobs(vendor, job_seconds=0.1)
    if provider == "replicate":
        settings.FAL_KEY = ""
    staff = UserFactory()
    staff.is_staff = True
    credits_adjust(user=user, amount=200, reason="test", actor=staff)
    assert credits_balance_get(user=user) == 300
    generation = services.generation_create(user=user, model_slug="veo-video", prompt="waves at dusk",
                                            aspect_ratio="16:9")
    assert (generation.quoted_credits, generation.params["duration_seconds"]) == (200, 8)
    services.generation_run(generation_id=generation.id)
    poll_until_done(generation.id, attempts=1200)
    generation.refresh_from_db()
    assert (generation.status, generation.provider) == (Status.SUCCEEDED, provider), generation.error_message
    clip = generation.images.get()
    assert (clip.content_type, clip.duration_seconds, clip.width, clip.height) == ("video/mp4", 8.0, 320, 180)
    assert video.video_validate(file_read(clip.file)).frames == 96
    assert simulator.stats()[route] == 1
    assert credits_balance_get(user=user) == 300 - 200
