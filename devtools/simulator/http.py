"""A very small ASGI toolkit for the simulator: requests, responses, a regex router."""

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    base_url: str = ""

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterator[bytes] | None = None  # for server-sent events
    broken: bool = False  # the answer is broken off: the client reads no response (see common.LOST_ANSWER)


def json_response(data, status: int = 200, headers: dict | None = None) -> Response:
    return Response(status, json.dumps(data).encode(), {"content-type": "application/json", **(headers or {})})


Handler = Callable[[Request], Awaitable[Response]]
WebsocketHandler = Callable[[dict, Callable, Callable, dict], Awaitable[None]]


class Router:
    def __init__(self):
        self.http: list[tuple[str, re.Pattern, Handler]] = []
        self.websocket: list[tuple[re.Pattern, WebsocketHandler]] = []

    def route(self, method: str, pattern: str):
        def decorator(handler: Handler) -> Handler:
            self.http.append((method, re.compile(f"^{pattern}$"), handler))
            return handler

        return decorator

    def ws(self, pattern: str):
        def decorator(handler: WebsocketHandler) -> WebsocketHandler:
            self.websocket.append((re.compile(f"^{pattern}$"), handler))
            return handler

        return decorator

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            return
        if scope["type"] == "websocket":
            for pattern, handler in self.websocket:
                if match := pattern.match(scope["path"]):
                    return await handler(scope, receive, send, match.groupdict())
            await send({"type": "websocket.close", "code": 4404})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        host = headers.get("host", "127.0.0.1")
        request = Request(
            method=scope["method"], path=scope["path"],
            query={k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()},
            headers=headers, body=body, base_url=f"http://{host}",
        )
        response = json_response({"detail": "Not found"}, 404)
        for method, pattern, handler in self.http:
            if method == request.method and (match := pattern.match(request.path)):
                request.params = match.groupdict()
                response = await handler(request)
                break
        headers = [(k.encode(), v.encode()) for k, v in response.headers.items()]
        if response.broken:
            # Two different lengths: no client can read this answer (httpx: RemoteProtocolError, as
            # for a connection dropped mid-answer); the server can't simply drop it under ASGI.
            headers = [(b"content-length", b"2"), (b"content-length", b"3")]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        if response.stream is None:
            await send({"type": "http.response.body", "body": response.body})
            return
        async for chunk in response.stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
