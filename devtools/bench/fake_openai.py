"""The gateway rows' upstream: an OpenAI Images API that answers at once with a small PNG.

    python -m devtools.bench.fake_openai --port 9360

`POST /v1/images/generations` (and `/v1/images/edits`) → `{"created", "data": [{"b64_json"}] × n}`
with one 256 × 256 PNG made at start-up, so neither gateway waits on the upstream and the figures
are the gateways' own cost. Anything else is a 404. Keep-alive HTTP/1.1 on asyncio streams; no
Django, no checks beyond the body being JSON.
"""

import argparse
import asyncio
import base64
import io
import json
import time

from PIL import Image


def _png() -> str:
    image = Image.new("RGB", (256, 256))
    image.putdata([(x, y, (x * y) % 256) for y in range(256) for x in range(256)])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


PNG_B64 = _png()
calls = 0


def _answer(body: bytes) -> tuple[int, bytes]:
    global calls
    try:
        params = json.loads(body or b"{}")
    except ValueError:
        params = {}  # multipart (edits): one image
    n = max(1, min(10, int(params.get("n") or 1))) if isinstance(params, dict) else 1
    calls += 1
    return 200, json.dumps({"created": int(time.time()), "data": [{"b64_json": PNG_B64}] * n}).encode()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            request_line = await reader.readline()
            if not request_line:
                break
            method, path, _ = request_line.decode("latin-1").split(" ", 2)
            length, close = 0, False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            body = await reader.readexactly(length) if length else b""
            if method == "POST" and path.split("?")[0].rstrip("/") in ("/v1/images/generations", "/v1/images/edits"):
                status, payload = _answer(body)
            elif path.startswith("/health"):
                status, payload = 200, json.dumps({"ok": True, "calls": calls}).encode()
            else:
                status, payload = 404, b'{"error": {"message": "not found", "type": "invalid_request_error"}}'
            reason = {200: "OK", 404: "Not Found"}[status]
            writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
            await writer.drain()
            if close:
                break
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


async def main(host: str, port: int) -> None:
    server = await asyncio.start_server(_serve, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9360)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
