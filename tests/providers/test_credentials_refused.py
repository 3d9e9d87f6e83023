"""A provider refusing our credentials (401/403) is a setup error for staff: the route is called
once, never retried, counts no breaker strike, and the job moves on to the next route, or fails
uncharged with a clear message when none is left. The admin says "credentials refused", and each
model's breaker row shows that model's own calls."""

import re

import httpx
import pytest

from apps.catalog.models import CatalogModel
from apps.credits.models import LedgerEntry
from apps.credits.selectors import credits_balance_get
from apps.generations import services
from apps.generations.models import Status
from apps.providers.adapters.openai import protocol as openai_protocol
from apps.providers.exceptions import ProviderAccountError
from apps.providers.models import CircuitBreaker, ProviderCall
from tests.providers.conftest import poll_until_done

FLUX = "black-forest-labs/flux-schnell"
FLUX_DEV = "black-forest-labs/flux-dev"
REPLICATE = {"provider": "replicate", "model": FLUX, "max_images": 4, "size": "aspect_ratio"}
COMFYUI = {"provider": "comfyui", "model": "flux-schnell", "max_images": 1}
REPLICATE_CREATE = f"replicate:POST /replicate/v1/models/{FLUX}/predictions"
COMFY_PROMPT = "comfyui:POST /comfyui/prompt"
BREAKERS = "/admin/providers/circuitbreaker/"


@pytest.fixture
def sim(simulator, catalog, settings, scheduled_polls):
    settings.BREAKER_FAILURE_THRESHOLD = 1  # one strike would open it: none may be counted
    simulator.knobs("replicate", job_seconds=0.1)
    simulator.knobs("comfyui", job_seconds=0.1)
    return simulator


def routes(slug: str, *chain: dict) -> None:
    CatalogModel.objects.filter(slug=slug).update(routes=list(chain))


def generate(user, slug: str = "flux-schnell"):
    generation = services.generation_create(user=user, model_slug=slug, prompt="a lighthouse", seed=7)
    services.generation_run(generation_id=generation.id)
    poll_until_done(generation.id)
    generation.refresh_from_db()
    return generation


def ledger(generation) -> list[tuple[str, int]]:
    return list(LedgerEntry.objects.filter(generation=generation).order_by("id").values_list("kind", "amount"))


def refuse(sim, settings, status: int) -> None:
    if status == 401:
        settings.REPLICATE_API_TOKEN = "r8_revoked"
    else:  # a key without the rights: Replicate's problem details with 403
        sim.knobs("replicate", error_rate=1.0, error_status=403)


def breaker_row(page: str, key: str) -> str:
    """The changelist row of one breaker, as HTML."""
    rows = [row for row in page.split("<tr")[1:] if f">{key}<" in row]
    assert len(rows) == 1, f"no single row for {key}"
    return rows[0]


def cell(row: str, column: str) -> str:
    return re.search(rf'<td class="field-{column}[^"]*">(.*?)</td>', row).group(1)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_route_is_called_once_and_the_job_falls_back_charged_once(sim, user, settings, status,
                                                                              caplog, admin_client):
    routes("flux-schnell", REPLICATE, COMFYUI)
    refuse(sim, settings, status)

    generation = generate(user)

    assert (generation.status, generation.provider, generation.route_index) == (Status.SUCCEEDED, "comfyui", 1)
    assert generation.notes == []  # not an outage: nothing was slow
    stats = sim.stats()
    assert (stats.get(REPLICATE_CREATE), stats.get(COMFY_PROMPT)) == (1, 1)  # the refused call, not retried
    assert ledger(generation) == [("reserve", -1), ("capture", 0)]
    assert credits_balance_get(user=user) == 99
    assert list(ProviderCall.objects.filter(provider="replicate").values_list("operation", "outcome")) == [
        ("submit", "credentials"),
    ]
    breakers = {row.key: row for row in CircuitBreaker.objects.filter(key__startswith="replicate")}
    assert {key: (row.state, row.consecutive_failures, row.refused_status) for key, row in breakers.items()} == {
        "replicate": ("closed", 0, status), f"replicate:{FLUX}": ("closed", 0, status),
    }
    assert any(f"provider credentials refused (HTTP {status}) for replicate:{FLUX}" in r.getMessage()
               for r in caplog.records)

    page = admin_client.get(BREAKERS).content.decode()
    row = breaker_row(page, "replicate")
    assert cell(row, "account").startswith(f"credentials refused (HTTP {status}) since ")
    assert cell(row, "errors_last_hour") == "retryable 0 · rejected 0 · blocked 0 · credentials refused 1"


def test_with_no_route_left_the_job_fails_at_once_with_a_clear_message_and_costs_nothing(sim, user, settings):
    routes("flux-schnell", REPLICATE)
    refuse(sim, settings, 401)

    generation = generate(user)

    assert (generation.status, generation.error_code) == (Status.FAILED, "provider_account")
    assert generation.error_message == ProviderAccountError.default_message
    assert "replicate" not in generation.error_message.lower() and "flux" not in generation.error_message.lower()
    assert generation.outage_waits == 0  # no waiting for a cooldown: a bad key won't heal by itself
    assert sim.stats().get(REPLICATE_CREATE) == 1
    assert ledger(generation) == [("reserve", -1), ("release", 1)]
    assert credits_balance_get(user=user) == 100


def test_a_success_after_the_key_is_fixed_clears_the_refusal(sim, user, settings, admin_client):
    routes("flux-schnell", REPLICATE)
    refuse(sim, settings, 401)
    refused = generate(user)
    settings.REPLICATE_API_TOKEN = "r8_simulated"

    fixed = generate(user)

    assert (refused.status, fixed.status, fixed.provider) == (Status.FAILED, Status.SUCCEEDED, "replicate")
    assert sim.stats().get(REPLICATE_CREATE) == 2
    assert ledger(refused) == [("reserve", -1), ("release", 1)]
    assert ledger(fixed) == [("reserve", -1), ("capture", 0)]
    assert set(CircuitBreaker.objects.values_list("refused_at", flat=True)) == {None}
    assert cell(breaker_row(admin_client.get(BREAKERS).content.decode(), "replicate"), "account") == "ok"


def test_each_model_row_shows_its_own_numbers(sim, user, settings, admin_client):
    routes("flux-schnell", REPLICATE)
    routes("flux-dev", {**REPLICATE, "model": FLUX_DEV})
    schnell = [generate(user), generate(user)]
    dev = generate(user, "flux-dev")
    refuse(sim, settings, 401)
    dev_refused = generate(user, "flux-dev")

    assert [g.status for g in [*schnell, dev, dev_refused]] == [Status.SUCCEEDED] * 3 + [Status.FAILED]
    stats = sim.stats()
    assert (stats.get(REPLICATE_CREATE), stats.get(f"replicate:POST /replicate/v1/models/{FLUX_DEV}/predictions")) \
        == (2, 2)
    assert [ledger(g) for g in schnell] == [[("reserve", -1), ("capture", 0)]] * 2
    assert (ledger(dev), ledger(dev_refused)) == ([("reserve", -3), ("capture", 0)], [("reserve", -3), ("release", 3)])
    assert credits_balance_get(user=user) == 95

    page = admin_client.get(BREAKERS).content.decode()
    numbers = {
        key: (cell(row, "calls_last_hour"), cell(row, "errors_last_hour"), cell(row, "account").split(" since")[0])
        for key in ("replicate", f"replicate:{FLUX}", f"replicate:{FLUX_DEV}")
        for row in [breaker_row(page, key)]
    }
    assert numbers == {
        "replicate": ("4", "retryable 0 · rejected 0 · blocked 0 · credentials refused 1",
                      "credentials refused (HTTP 401)"),
        f"replicate:{FLUX}": ("2", "retryable 0 · rejected 0 · blocked 0 · credentials refused 0", "ok"),
        f"replicate:{FLUX_DEV}": ("2", "retryable 0 · rejected 0 · blocked 0 · credentials refused 1",
                                  "credentials refused (HTTP 401)"),
    }


@pytest.mark.parametrize("status", [401, 403])
def test_openai_refusals_are_account_errors_whatever_x_should_retry_says(status):
    response = httpx.Response(
        status, headers={"x-should-retry": "false"},
        json={"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "param": None,
                        "code": "invalid_api_key"}},
    )
    with pytest.raises(ProviderAccountError) as raised:
        openai_protocol.raise_for_error(response)
    assert raised.value.status == status
