"""Load-generator pieces shared by the stack scenarios: a lean keep-alive HTTP/1.1 client on
asyncio streams (the load generator shares the CPU with the stack, so it must be cheap), and
helpers to submit generations and read the live websocket."""

import asyncio
import json
import time
from urllib.parse import urlsplit


class HttpClient:
    """One keep-alive connection; requests on it go one at a time."""

    def __init__(self, base_url: str, headers: dict | None = None):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.headers = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        self.reader = self.writer = None

    async def _connect(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        if self.writer is None:
            await self._connect()
        data = json.dumps(body).encode() if body is not None else b""
        lines = [f"{method} {path} HTTP/1.1"]
        all_headers = {**self.headers, **(headers or {}), "Content-Length": str(len(data))}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        lines += [f"{k}: {v}" for k, v in all_headers.items()]
        try:
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
            await self.writer.drain()
            status_line = await self.reader.readline()
            if not status_line:
                raise ConnectionError("connection closed")
            status = int(status_line.split()[1])
            length, close = 0, False
            while True:
                line = await self.reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            payload = await self.reader.readexactly(length) if length else b""
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            await self.close()
            raise
        if close:
            await self.close()
        return status, payload

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except Exception:
                pass
        self.reader = self.writer = None


def submit_body(model: str, tier: str | None = None, prompt: str = "a lighthouse on a hill at night") -> dict:
    body = {"model": model, "prompt": prompt}
    if tier:
        body["tier"] = tier
    return body


async def ws_connect(base_url: str, session: str, **kwargs):
    import websockets

    ws_url = base_url.replace("http://", "ws://") + "/ws/live/"
    return await websockets.connect(
        ws_url, additional_headers={"Cookie": f"sessionid={session}"}, origin=base_url,
        open_timeout=30, ping_interval=None, max_queue=None, compression=None, **kwargs,
    )


def now() -> float:
    return time.time()
