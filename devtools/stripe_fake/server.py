"""Stripe's REST shapes over HTTP on loopback, plus the pages a buyer and a test need.

`/v1/...`      what stripe-python and dj-stripe call: form-encoded bodies and query strings with
               Stripe's bracket syntax, `Authorization: Bearer sk_...`, `Idempotency-Key` honoured,
               errors as `{"error": {...}}`.
`/checkout/…`  the hosted checkout page: Pay sends the signed webhooks and redirects to success_url.
`/_fake/…`     controls for demos and tests: disputes, refund outcomes, replays, the event log.
"""

from __future__ import annotations

import html
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from .fake import FakeStripe, FakeStripeError, missing


def decode_params(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding: `a[b][0][c]=1` → {"a": {"b": [{"c": "1"}]}}; `expand[]=x` appends."""
    root: dict = {}
    for key, value in pairs:
        match = re.match(r"^([^\[]+)((?:\[[^\]]*\])*)$", key)
        tokens = [match.group(1), *re.findall(r"\[([^\]]*)\]", match.group(2))] if match else [key]
        _insert(root, tokens, value)
    return root


def _container(token: str):
    return [] if token == "" or token.isdigit() else {}


def _insert(node, tokens: list[str], value: str) -> None:
    head, rest = tokens[0], tokens[1:]
    if isinstance(node, list):
        if head == "":
            node.append(value if not rest else _container(rest[0]))
        else:
            while len(node) <= int(head):
                node.append(None)
            if not rest:
                node[int(head)] = value
            elif node[int(head)] is None:
                node[int(head)] = _container(rest[0])
        if rest:
            _insert(node[-1] if head == "" else node[int(head)], rest, value)
        return
    if not rest:
        node[head] = value
        return
    if head not in node:
        node[head] = _container(rest[0])
    _insert(node[head], rest, value)


def page(title: str, body: str) -> bytes:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font:16px system-ui;background:#f6f8fa;color:#1a1f36;display:grid;place-items:center;min-height:90vh}}
main{{background:#fff;border-radius:12px;padding:2rem 2.5rem;box-shadow:0 4px 24px #0002;max-width:28rem}}
.fake{{color:#b4581b;font-size:.85rem}} button{{font:inherit;background:#635bff;color:#fff;border:0;border-radius:8px;
padding:.7rem 1.4rem;cursor:pointer}} a{{color:#635bff}}</style></head><body><main>{body}</main></body></html>""".encode()


class Handler(BaseHTTPRequestHandler):
    server: FakeStripeServer
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out as separate writes: without this, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # quiet; the fake keeps its own request log
        pass

    @property
    def fake(self) -> FakeStripe:
        return self.server.fake

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def _params(self) -> dict:
        split = urlsplit(self.path)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            raw = self.rfile.read(length).decode()
            if (self.headers.get("Content-Type") or "").startswith("application/json"):
                return {**decode_params(pairs), **(json.loads(raw) if raw else {})}
            pairs += parse_qsl(raw, keep_blank_values=True)
        return decode_params(pairs)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", f"req_{threading.get_ident():x}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data, headers: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _handle(self, method: str) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        try:
            params = self._params()
            with self.fake.lock:
                self.fake.requests.append((method, path))
            if path.startswith("/v1/"):
                self.fake.check_auth(self.headers.get("Authorization"))
                key = self.headers.get("Idempotency-Key") if method == "POST" else None
                if key and key in self.fake.idempotent:
                    status, data = self.fake.idempotent[key]
                    return self._json(status, data, {"Idempotent-Replayed": "true"})
                data = self.api(method, path, params)
                if key:
                    self.fake.idempotent[key] = (200, data)
                return self._json(200, data)
            return self.pages(method, path, params)
        except FakeStripeError as error:
            return self._json(error.status, error.body())
        except (KeyError, ValueError, TypeError) as error:
            return self._json(400, {"error": {"type": "invalid_request_error", "message": f"Bad request: {error}"}})

    # ------------------------------------------------------------ /v1

    def api(self, method: str, path: str, params: dict):
        fake = self.fake
        expand = params.get("expand") or []
        parts = path.split("/")[2:]  # after /v1
        route = (method, *parts)
        match route:
            case ("GET", "account"):
                return fake.account()
            case ("POST", "checkout", "sessions"):
                with fake.lock:
                    return fake.checkout_session_create(params)
            case ("GET", "checkout", "sessions"):
                found = [o for o in fake.objects.values() if o["object"] == "checkout.session"]
                if params.get("payment_intent"):
                    found = [s for s in found if s["payment_intent"] == params["payment_intent"]]
                return self.listing([fake.render(s, expand) for s in found], path)
            case ("GET", "checkout", "sessions", session_id):
                return fake.render(fake.get(session_id, "checkout.session"), expand)
            case ("GET", "checkout", "sessions", session_id, "line_items"):
                return fake.line_items(fake.get(session_id, "checkout.session"))
            case ("POST", "checkout", "sessions", session_id, "expire"):
                return fake.checkout_expire(session_id)
            case ("GET", "payment_intents", object_id):
                return fake.render(fake.get(object_id, "payment_intent"))
            case ("GET", "payment_methods", object_id):
                return fake.render(fake.get(object_id, "payment_method"))
            case ("GET", "charges", object_id):
                return fake.render(fake.get(object_id, "charge"))
            case ("GET", "refunds"):
                return self.listing([fake.render(r) for r in fake.refunds(params)], path)
            case ("POST", "refunds"):
                return fake.refund_create(params)
            case ("GET", "refunds", object_id):
                return fake.render(fake.get(object_id, "refund"))
            case ("GET", "disputes", object_id):
                return fake.render(fake.get(object_id, "dispute"))
            case ("GET", "events"):
                return self.listing(list(reversed(fake.events))[: int(params.get("limit", 10))], path)
            case ("GET", "events", event_id):
                event = next((e for e in fake.events if e["id"] == event_id), None)
                if event is None:
                    raise missing("event", event_id)
                return event
        raise FakeStripeError(404, f"Unrecognized request URL ({method}: {path}).")

    @staticmethod
    def listing(data: list, url: str) -> dict:
        return {"object": "list", "data": data, "has_more": False, "url": url}

    # ------------------------------------------------------------ pages and controls

    def pages(self, method: str, path: str, params: dict) -> None:
        fake = self.fake
        parts = path.strip("/").split("/")
        match (method, *parts):
            case ("GET", "checkout", session_id):
                session = fake.get(session_id, "checkout.session")
                amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
                items = "".join(f"<li>{html.escape(i['description'])}</li>" for i in session["_line_items"])
                if session["status"] != "open":
                    body = f"<h1>Checkout</h1><p>This checkout is {html.escape(session['status'])}.</p>"
                else:
                    body = (
                        f"<p class=fake>Stripe fake — no real payment is taken.</p><h1>Pay {amount}</h1>"
                        f"<ul>{items}</ul><p>Card 4242 4242 4242 4242 · {html.escape(session['customer_email'] or '')}</p>"
                        f'<form method="post" action="/checkout/{session_id}/pay"><button type="submit" id="pay">'
                        f'Pay {amount}</button></form><p><a href="{html.escape(session["cancel_url"])}">Cancel and '
                        "go back</a></p>"
                    )
                return self._send(200, page("Checkout", body), "text/html; charset=utf-8")
            case ("POST", "checkout", session_id, "pay"):
                success_url = fake.checkout_pay(session_id)
                return self._send(303, b"", "text/plain", {"Location": success_url})
            case ("GET", "_fake", "events"):
                with fake.lock:
                    deliveries = [vars(d) | {"payload": None} for d in fake.deliveries]
                return self._json(200, {"events": [{"id": e["id"], "type": e["type"]} for e in fake.events],
                                        "deliveries": deliveries})
            case ("POST", "_fake", "events", event_id, "resend"):
                fake.resend(event_id)
                return self._json(200, {"resent": event_id})
            case ("POST", "_fake", "charges", charge_id, "dispute"):
                return self._json(200, fake.dispute_open(charge_id, amount=params.get("amount")))
            case ("POST", "_fake", "disputes", dispute_id, "close"):
                return self._json(200, fake.dispute_close(dispute_id, status=params.get("status", "won")))
            case ("POST", "_fake", "refunds", refund_id, "status"):
                return self._json(200, fake.refund_set_status(refund_id, params["status"]))
            case ("GET", "_fake", "healthz"):
                return self._json(200, {"ok": True})
        raise FakeStripeError(404, f"Unrecognized request URL ({method}: {path}).")


class FakeStripeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeStripe, host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), Handler)
        self.fake = fake
        fake.base_url = self.url
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeStripeServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="stripe-fake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(timeout=5)
