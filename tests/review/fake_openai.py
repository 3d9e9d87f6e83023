"""A loopback fake of an OpenAI-compatible API: POST /v1/chat/completions (a vision model grading an
image) and POST /v1/moderations, speaking the real request and response shapes.

The vision answer comes from the pixels it is sent: an image whose lower-right corner is almost
white reads as "a watermark in the lower-right" (the tests draw one), anything else passes."""

import base64
import io
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image


@dataclass
class FakeOpenAI:
    url: str = ""
    requests: list[dict] = field(default_factory=list)
    delay: float = 0.0
    status: int = 200
    keys: list[str] = field(default_factory=list)


def _grade(data_uri: str) -> dict:
    header, encoded = data_uri.split(",", 1)
    assert header == "data:image/jpeg;base64"
    image = Image.open(io.BytesIO(base64.b64decode(encoded))).convert("L")
    pixels = np.asarray(image)
    h, w = pixels.shape
    corner = pixels[int(h * 0.85):, int(w * 0.7):]
    if corner.mean() > 240:
        return {"passed": False, "score": 0.2, "reason": "The model added a watermark in the lower-right."}
    return {"passed": True, "score": 0.9, "reason": "It shows what the prompt asks, with no text or watermark."}


@pytest.fixture
def fake_openai():
    state = FakeOpenAI()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            state.requests.append({"path": self.path, "body": body})
            state.keys.append(self.headers.get("Authorization", ""))
            if state.delay:
                time.sleep(state.delay)
            if state.status != 200:
                return self._send(state.status, {"error": {"message": "overloaded", "type": "server_error"}})
            if self.path == "/v1/chat/completions":
                parts = body["messages"][-1]["content"]
                image = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
                answer = json.dumps(_grade(image))
                return self._send(200, {
                    "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": answer}}],
                    "usage": {"prompt_tokens": 800, "completion_tokens": 30, "total_tokens": 830},
                })
            if self.path == "/v1/moderations":
                flagged = "forbidden-by-fake" in body["input"]
                return self._send(200, {
                    "id": "modr-1", "model": body["model"],
                    "results": [{"flagged": flagged, "categories": {"violence": flagged, "sexual": False},
                                 "category_scores": {"violence": 0.97 if flagged else 0.01, "sexual": 0.0}}],
                })
            self._send(404, {"error": {"message": "not found"}})

        def _send(self, status: int, payload: dict):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/v1"
    yield state
    server.shutdown()
    server.server_close()
