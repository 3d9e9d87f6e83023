"""`GET /api/v1/events`: the key owner's live events as Server-Sent Events, resumable."""

import asyncio
import json
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse
from ninja import Field, Header, Query, Router, Schema

from . import selectors

router = Router(tags=["events"])

SSE_DESCRIPTION = """\
A `text/event-stream` of your account's live events — the same typed events the studio's
websocket carries: `generation.progress`, `generation.succeeded`, `generation.failed`,
`generation.canceled`, `generation.rejected`, `batch.progress`, `batch.finished`.

Each event is

```
id: 42
event: generation.succeeded
data: {"id": 42, "type": "generation.succeeded", "data": {"id": "…", "status": "succeeded", …}, "sent_at": 1763720000.5}
```

Ids count up per account. A stream lasts about a minute and then closes; reconnect with the
`Last-Event-ID` header (EventSource does this by itself) to get every event after that id that is
still kept (24 hours). Without it the stream starts with the next event. Lines starting with `:`
are keep-alive comments.
"""


class EventsQuery(Schema):
    last_event_id: int | None = Field(
        None, ge=0, description="Same as the Last-Event-ID header, for clients that can't set headers."
    )


def _sse(event) -> str:
    payload = {"id": event.seq, "type": event.type, "data": event.data, "sent_at": event.created_at.timestamp()}
    return f"id: {event.seq}\nevent: {event.type}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"


async def _stream(user_id, after: int | None):
    if after is None:
        after = await sync_to_async(selectors.event_latest_id)(user_id=user_id)
    lifetime, poll = settings.EVENTS_STREAM_SECONDS, settings.EVENTS_POLL_SECONDS
    started = last_sent = time.monotonic()
    yield f"retry: {settings.EVENTS_RETRY_MS}\n: connected\n\n"
    while time.monotonic() - started < lifetime:
        events = await sync_to_async(selectors.events_after)(user_id=user_id, after=after)
        for event in events:
            after = event.seq
            yield _sse(event)
        if events:
            last_sent = time.monotonic()
            continue
        if time.monotonic() - last_sent >= settings.EVENTS_KEEPALIVE_SECONDS:
            last_sent = time.monotonic()
            yield ": keepalive\n\n"
        await asyncio.sleep(poll)


@router.get(
    "/events",
    summary="Stream your live events (SSE)",
    description=SSE_DESCRIPTION,
    response={200: None},
    openapi_extra={"responses": {200: {"description": "An event stream.", "content": {"text/event-stream": {
        "schema": {"type": "string"}}}}}},
)
async def event_stream(
    request,
    query: Query[EventsQuery],
    last_event_id: int | None = Header(None, alias="Last-Event-ID", ge=0),
):
    after = last_event_id if last_event_id is not None else query.last_event_id
    response = StreamingHttpResponse(_stream(request.auth.pk, after), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
