"""Server-sent events: every upload and step change from the Redis channel, live to the browser."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, Response, g, stream_with_context

from scheduler.keys import text

from .access import Need, needs
from .context import pipeline
from .openapi import operation

events = Blueprint("events", __name__)

# A comment line now and then lets a dead connection be noticed, so its server thread is freed.
KEEPALIVE_S = 15.0
# Each stream holds one server thread; the browser's EventSource reconnects on its own afterwards.
STREAM_LIFETIME_S = 300.0
RETRY_MS = 2000


def stream(workspace: str, lifetime_s: float = STREAM_LIFETIME_S) -> Iterator[str]:
    listener = pipeline().subscribe(workspace)
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        ends = time.monotonic() + lifetime_s
        last_sent = time.monotonic()
        while time.monotonic() < ends:
            message = listener.get_message(timeout=1.0)
            if message is not None and message["type"] == "message":
                yield f"data: {text(message['data'])}\n\n"
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent > KEEPALIVE_S:
                yield ": keepalive\n\n"
                last_sent = time.monotonic()
    finally:
        listener.close()


@events.get("/events")
@needs(Need.VIEWER)
@operation("Every upload and step change, live, as server-sent events.",
           {200: "text/event-stream", 401: "text/plain"}, keyed=False)
def event_stream() -> Response:
    return Response(
        stream_with_context(stream(g.workspace)),
        mimetype="text/event-stream",
        # No proxy may buffer the stream, or the page would see changes late.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
