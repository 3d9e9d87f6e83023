"""Auto model choice: the intent rules, the choice among available, healthy models (fit, pass rate,
latency, price by budget), and `model: "auto"` through the generation service, the API and the
OpenAI-compatible endpoint, with the one-line reason the card shows."""

import json

import pytest
from django.utils import timezone

from apps.accounts.services import api_key_create
from apps.catalog import performance
from apps.catalog.auto import NoAutoChoiceError, auto_model_choose, intent_infer
from apps.generations import services
from apps.openai_compat import services as openai_services
from apps.providers.models import CircuitBreaker
from devtools import standins
from tests.apiclient import ApiClient

OLIVE_OIL = "a bottle of olive oil on a marble counter, studio lighting"
POSTER = "a poster that says SUMMER SALE"


@pytest.fixture
def hosted(settings, catalog):
    """Every provider configured (nothing is called: the choice only needs them configured)."""
    for name, value in standins.simulator_settings("http://127.0.0.1:9").items():
        setattr(settings, name, value)


@pytest.mark.parametrize(("prompt", "inputs", "expected"), [
    (OLIVE_OIL, {}, ("product", "the prompt mentions “bottle”")),
    (POSTER, {}, ("text", "the prompt has words to render (“SUMMER SALE”)")),
    ('a shop sign reading "Open late"', {}, ("text", "the prompt has words to render (“Open late”)")),
    ("a logo for a bakery", {}, ("text", "the prompt mentions “logo”")),
    ("a watercolor fox in the forest", {}, ("illustration", "the prompt mentions “watercolor”")),
    ("portrait of an old fisherman", {}, ("photoreal", "the prompt mentions “portrait”")),
    ("a quiet harbour at night", {}, ("photoreal", "nothing in the prompt asks for another style")),
    ("make the mug blue", {"has_image": True}, ("edit", "you gave a photo to change")),
    ("waves at dusk", {"wants_video": True}, ("video", "you asked for a clip")),
    ("a hdr photo of DSLR gear", {}, ("photoreal", "the prompt mentions “photo”")),
])
def test_the_intent_follows_plain_rules(prompt, inputs, expected):
    assert intent_infer(prompt, **inputs) == expected


@pytest.mark.django_db
def test_a_product_prompt_gets_a_photoreal_product_model_with_the_reason(hosted):
    choice = auto_model_choose(prompt=OLIVE_OIL)
    assert (choice.model.slug, choice.intent) == ("seedream-4", "product")
    assert choice.reason == ("Auto chose Seedream 4: a photoreal model for product shots, as the prompt "
                             "mentions “bottle”.")


@pytest.mark.django_db
def test_a_poster_with_words_gets_a_model_good_at_text(hosted):
    choice = auto_model_choose(prompt=POSTER)
    assert (choice.model.slug, choice.intent) == ("qwen-image", "text")
    assert choice.reason == ("Auto chose Qwen Image: a model good at text in images, as the prompt has words "
                             "to render (“SUMMER SALE”).")


@pytest.mark.django_db
def test_the_budget_trades_price_for_quality_and_open_breakers_are_skipped(hosted):
    prompt = "portrait of an old fisherman"
    assert auto_model_choose(prompt=prompt, budget="best").model.slug == "imagen"
    assert auto_model_choose(prompt=prompt).model.slug == "flux-krea"
    assert auto_model_choose(prompt=prompt, max_credits=2).model.slug == "flux-schnell"
    for key in ("replicate:black-forest-labs/flux-krea-dev", "fal:fal-ai/flux/krea"):
        CircuitBreaker.objects.create(key=key, state=CircuitBreaker.State.OPEN, opened_at=timezone.now())
    assert auto_model_choose(prompt=prompt).model.slug == "imagen"


@pytest.mark.django_db
def test_learned_latency_and_pass_rates_are_weighed(hosted, monkeypatch):
    prompt = "portrait of an old fisherman"
    monkeypatch.setattr(performance, "model_pass_rate", lambda slug: 0.99 if slug == "flux-pro" else 0.5)
    assert auto_model_choose(prompt=prompt).model.slug == "flux-pro"
    monkeypatch.setattr(performance, "model_pass_rate", lambda slug: None)
    monkeypatch.setattr(performance, "model_latency_p50", lambda slug: 100.0 if slug == "flux-krea" else 10.0)
    assert auto_model_choose(prompt=prompt).model.slug == "flux-pro"


@pytest.mark.django_db
def test_edits_videos_and_the_offline_fallback(hosted, settings):
    assert auto_model_choose(prompt="make the mug blue", has_image=True).model.slug == "flux-kontext-pro"
    assert auto_model_choose(prompt="make the mug blue", has_image=True, has_mask=True).model.slug == "flux-fill"
    assert auto_model_choose(prompt="waves at dusk", wants_video=True).model.slug == "seedance-video"
    assert auto_model_choose(prompt="the sea moves", has_image=True, wants_video=True).model.slug == "hailuo-animate"
    for name in standins.simulator_settings("http://127.0.0.1:9"):
        setattr(settings, name, "")
    offline = auto_model_choose(prompt=POSTER)
    assert offline.model.slug == "offline-sketch"
    assert offline.reason == ("Auto chose Offline Sketch: the offline engine (no AI model is available for "
                              "this), as the prompt has words to render (“SUMMER SALE”).")
    with pytest.raises(NoAutoChoiceError):
        auto_model_choose(prompt="waves at dusk", wants_video=True)


@pytest.mark.django_db
def test_auto_through_the_service_the_api_and_the_openai_endpoint(hosted, user):
    generation = services.generation_create(user=user, model_slug="auto", prompt=OLIVE_OIL, aspect_ratio="16:9")
    assert (generation.catalog_model.slug, generation.params["auto_intent"], generation.params["aspect_ratio"]) == (
        "seedream-4", "product", "16:9")
    assert generation.notes == [
        "Auto chose Seedream 4: a photoreal model for product shots, as the prompt mentions “bottle”."]
    assert generation.quoted_credits == 4

    api = ApiClient(api_key_create(user=user, name="tests").secret)
    response = api.post("/generations", {"model": "auto", "prompt": POSTER, "tier": "best"})
    assert response.status_code == 201, response.content
    body = response.json()
    # The best budget leaves the price out: the quicker of the text models wins.
    assert (body["model"], body["notes"][0]) == (
        "ideogram-turbo", "Auto chose Ideogram 3 Turbo: a model good at text in images, as the prompt has words "
        "to render (“SUMMER SALE”).")

    compat = openai_services.generate(user=user, prompt=POSTER, model="auto", n=1, size="1536x1024", quality=None)
    assert (compat.catalog_model.slug, compat.params["aspect_ratio"]) == ("qwen-image", "3:2")
    assert compat.notes == ["Auto chose Qwen Image: a model good at text in images, as the prompt has words "
                            "to render (“SUMMER SALE”)."]


@pytest.fixture
def chat_server():
    """A loopback OpenAI-compatible chat endpoint answering `answer["text"]`, recording requests."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answer, seen = {"text": "text"}, []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append((self.path, self.headers.get("Authorization"),
                         json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            body = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": answer["text"]}, "finish_reason": "stop"}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1", answer, seen
    server.shutdown()


@pytest.mark.django_db
def test_a_configured_chat_model_refines_the_intent_and_failures_leave_the_rules(hosted, settings, chat_server):
    url, answer, seen = chat_server
    settings.AUTO_MODEL_CHAT_URL, settings.AUTO_MODEL_CHAT_MODEL = url, "small-model"
    settings.AUTO_MODEL_CHAT_API_KEY = "k-1"
    choice = auto_model_choose(prompt="a quiet harbour at night")
    assert (choice.model.slug, choice.intent) == ("qwen-image", "text")
    assert choice.reason == ("Auto chose Qwen Image: a model good at text in images, as a language model read "
                             "the prompt that way.")
    path, auth, body = seen[0]
    assert (path, auth, body["model"], body["messages"][1]) == (
        "/v1/chat/completions", "Bearer k-1", "small-model", {"role": "user", "content": "a quiet harbour at night"})
    answer["text"] = "a cat"  # not one of the intents: the rules stand
    assert auto_model_choose(prompt="a quiet harbour at night").intent == "photoreal"
    assert auto_model_choose(prompt="waves", wants_video=True).intent == "video"  # clips are never sent
    assert len(seen) == 2
    settings.AUTO_MODEL_CHAT_URL = "http://127.0.0.1:9/v1"  # nothing listens: the rules stand
    assert auto_model_choose(prompt=POSTER).intent == "text"
