"""Outputs served from a provider's own API host are downloaded with its key; no other host ever
sees it, not even at the end of a redirect. Each case runs a whole generation (Replicate first,
the ComfyUI GPU server as the fallback) and checks what was billed."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from apps.catalog.models import CatalogModel
from apps.credits.models import LedgerEntry
from apps.generations import services
from apps.generations.models import Status
from apps.providers.fetch import FetchError, fetch_output
from apps.providers.models import CircuitBreaker
from tests.providers.conftest import poll_until_done

FLUX = "black-forest-labs/flux-schnell"
REPLICATE_CREATE = f"replicate:POST /replicate/v1/models/{FLUX}/predictions"
COMFY_PROMPT = "comfyui:POST /comfyui/prompt"


class Recorder:
    """A loopback host standing for a CDN: records each request's headers and forwards the GET,
    without them, to `upstream` (the simulator, which holds the files)."""

    def __init__(self, upstream: str):
        self.upstream, self.requests = upstream, []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                recorder.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                answer = httpx.get(recorder.upstream + self.path, timeout=5)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def recorder(simulator):
    recorder = Recorder(simulator.url)
    yield recorder
    recorder.server.shutdown()
    recorder.server.server_close()


@pytest.fixture
def chain(simulator, catalog, scheduled_polls):
    simulator.knobs("replicate", job_seconds=0.1)
    simulator.knobs("comfyui", job_seconds=0.1)
    CatalogModel.objects.filter(slug="flux-schnell").update(routes=[
        {"provider": "replicate", "model": FLUX, "max_images": 4, "size": "aspect_ratio"},
        {"provider": "comfyui", "model": "flux-schnell", "max_images": 1},
    ])
    return simulator


def generate(user):
    generation = services.generation_create(user=user, model_slug="flux-schnell", prompt="a lighthouse", seed=7)
    services.generation_run(generation_id=generation.id)
    poll_until_done(generation.id)
    generation.refresh_from_db()
    return generation


def ledger(generation) -> list[tuple[str, int]]:
    return list(LedgerEntry.objects.filter(generation=generation).order_by("id").values_list("kind", "amount"))


def assert_charged_once_at_replicate(chain, generation) -> None:
    assert (generation.status, generation.provider, generation.route_index) == (Status.SUCCEEDED, "replicate", 0)
    assert generation.images.count() == 1
    stats = chain.stats()
    assert (stats.get(REPLICATE_CREATE, 0), stats.get(COMFY_PROMPT, 0)) == (1, 0)
    assert ledger(generation) == [("reserve", -1), ("capture", 0)]
    assert not CircuitBreaker.objects.filter(consecutive_failures__gt=0).exists()


def test_an_output_on_the_api_host_is_fetched_with_the_token_and_charged_once(chain, user):
    chain.knobs("replicate", output_variant="api_file")

    generation = generate(user)

    assert_charged_once_at_replicate(chain, generation)
    downloads = [name for name in chain.stats() if "/v1/files/" in name]
    assert len(downloads) == 1 and downloads[0].endswith("/download")
    assert "replicate:401" not in str(chain.stats())


def test_an_output_on_another_host_never_gets_the_token(chain, recorder, user):
    chain.knobs("replicate", files_url=recorder.url)

    generation = generate(user)

    assert_charged_once_at_replicate(chain, generation)
    assert [path.rsplit("/", 1)[-1] for path, _ in recorder.requests] == ["0.png"]
    assert all("authorization" not in headers for _, headers in recorder.requests)


def test_a_redirect_from_the_api_host_to_another_host_drops_the_token(chain, recorder, user):
    chain.knobs("replicate", output_variant="api_file", files_url=recorder.url)

    generation = generate(user)

    assert_charged_once_at_replicate(chain, generation)
    assert [name for name in chain.stats() if "/v1/files/" in name] != []  # the API host was asked first
    assert len(recorder.requests) == 1
    assert "authorization" not in recorder.requests[0][1]


def test_the_key_goes_only_to_the_exact_origin_of_the_api_base_url(recorder, simulator, settings):
    # Same host name and scheme as the API, another port: another origin, so no key.
    settings.REPLICATE_BASE_URL = f"{recorder.url.rsplit(':', 1)[0]}:1/replicate"
    with pytest.raises(FetchError, match="answered 404"):
        fetch_output(f"{recorder.url}/replicate/files/none/0.png", provider="replicate")
    assert "authorization" not in recorder.requests[0][1]

    settings.REPLICATE_BASE_URL = f"{recorder.url}/replicate"
    with pytest.raises(FetchError, match="answered 404"):
        fetch_output(f"{recorder.url}/replicate/files/none/0.png", provider="replicate")
    assert recorder.requests[1][1]["authorization"] == f"Bearer {settings.REPLICATE_API_TOKEN}"

    # An output of another provider on Replicate's host does not get Replicate's key either.
    with pytest.raises(FetchError, match="answered 404"):
        fetch_output(f"{recorder.url}/replicate/files/none/1.png", provider="fal")
    assert "authorization" not in recorder.requests[2][1]
