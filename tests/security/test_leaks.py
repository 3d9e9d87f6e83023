"""Failed jobs explain themselves without naming the provider, its URLs, addresses or keys: a
provider whose output link points at a private address, a provider answering errors, every route
down. Checked in everything a person or their software can read: the API, the pages, the card
fragment, the live events kept for SSE, and the webhook bodies sent to them."""

import pytest
from django.conf import settings as django_settings

from apps.catalog.models import CatalogModel
from apps.generations import services
from apps.generations.models import Status
from apps.hooks import services as hook_services
from apps.hooks.models import WebhookDelivery
from apps.realtime.models import Event
from devtools import standins
from tests.providers.conftest import poll_until_done, scheduled_polls, simulator, simulator_process  # noqa: F401

from .conftest import client_for, tally

pytestmark = pytest.mark.django_db


@pytest.fixture
def routed(simulator, catalog, settings, scheduled_polls):  # noqa: F811
    simulator.knobs("replicate", job_seconds=0.05)
    simulator.knobs("comfyui", job_seconds=0.05)
    CatalogModel.objects.filter(slug="flux-schnell").update(routes=[
        {"provider": "replicate", "model": "black-forest-labs/flux-schnell", "max_images": 4, "size": "aspect_ratio"},
        {"provider": "comfyui", "model": "flux-schnell", "max_images": 1},
    ])
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    return simulator


def secrets_of_the_backend() -> list[str]:
    values = [django_settings.REPLICATE_BASE_URL, django_settings.COMFYUI_URL, "127.0.0.1", "/replicate/", "/comfyui", "r8_", "sk-simulated",
              "simulated:key", "api.replicate.com", "black-forest-labs"]
    for name in standins.SIMULATOR_CREDENTIALS:
        values.append(getattr(django_settings, name))
    return [v for v in values if v]


def everything_the_owner_can_read(world, generation) -> dict[str, str]:
    page, api = client_for(world.owner), client_for()
    key = {"HTTP_AUTHORIZATION": f"Bearer {world.owner_key}"}
    return {
        "API": api.get(f"/api/v1/generations/{generation.id}", **key).content.decode(),
        "API list": api.get("/api/v1/generations", **key).content.decode(),
        "detail page": page.get(f"/generations/{generation.id}/").content.decode(),
        "card": page.get(f"/generations/{generation.id}/card/").content.decode(),
        "my images": page.get("/images/").content.decode(),
        "live events": repr(list(Event.objects.values_list("data", flat=True))),
        "webhooks": repr(list(WebhookDelivery.objects.values_list("payload", "last_error"))),
    }


@pytest.mark.parametrize("fault", ["output link at a private address", "provider errors", "provider refuses"])
def test_a_failed_generation_names_no_provider_url_or_key(world, routed, settings, fault):
    hook_services.webhook_endpoint_create(user=world.owner, url="http://127.0.0.1:9/hook",
                                          events=["generation.failed", "generation.succeeded"])
    if fault == "output link at a private address":
        settings.PROVIDER_FETCH_ALLOW_PRIVATE = False  # Replicate's links (the simulator's) are loopback ones
        routed.knobs("comfyui", error_rate=1.0, error_status=500)  # (ComfyUI sends bytes, not links)
    elif fault == "provider errors":
        routed.knobs("replicate", error_rate=1.0, error_status=500)
        routed.knobs("comfyui", error_rate=1.0, error_status=500)
    else:
        routed.knobs("replicate", error_rate=1.0, error_status=422)
        routed.knobs("comfyui", error_rate=1.0, error_status=400)
    generation = services.generation_create(user=world.owner, model_slug="flux-schnell", prompt="a lighthouse", seed=7)
    for _ in range(3):  # each route in turn: a rejected output re-queues the job for the next one
        services.generation_run(generation_id=generation.id)
        poll_until_done(generation.id)
        generation.refresh_from_db()
        if not generation.is_active:
            break
    assert generation.status == Status.FAILED, generation.status
    assert generation.error_message
    readable = everything_the_owner_can_read(world, generation)
    # Our own site's links (SITE_URL, on loopback here like the simulator) are not the backend's.
    leaks = {where: [s for s in secrets_of_the_backend() if s in text.replace(django_settings.SITE_URL, "")]
             for where, text in readable.items()}
    assert not any(leaks.values()), leaks
    assert generation.error_message in readable["API"]
    tally("hostile inputs: provider faults")
