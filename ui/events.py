"""Server-sent events: every upload and step change from the Redis channel, live to the browser."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, g, stream_with_context

from scheduler.keys import text

from .access import Need, needs
from .context import pipeline
from .openapi import operation

events = Blueprint("events", __name__)

# A comment line now and then keeps proxies from closing a quiet stream and lets a closed page be noticed: the
# server learns of it only when writes fail, the second or third after the close, and then frees the thread.
KEEPALIVE_S = 5.0
# Each stream holds one server thread; the browser's EventSource reconnects on its own afterwards.
STREAM_LIFETIME_S = 300.0
RETRY_MS = 2000
# A page refused a stream (all taken) tries again this much later, and says meanwhile that it is reconnecting.
BUSY_RETRY_MS = 15000


class Streams:
    """How many event streams may be open at once: each holds a server thread for as long as its page is open."""

    def __init__(self, most: int) -> None:
        self._free = threading.BoundedSemaphore(most)

    def take(self) -> bool:
        return self._free.acquire(blocking=False)

    def give_back(self) -> None:
        self._free.release()


def install(app: Flask, most: int) -> None:
    app.extensions["medialens.streams"] = Streams(most)
    app.register_blueprint(events)


def stream(workspace: str, lifetime_s: float = STREAM_LIFETIME_S) -> Iterator[str]:
    """The workspace's changes as server-sent events, until ``lifetime_s`` has passed or the client has gone.

    It opens with a ``ready`` event: a page refused a stream sees the connection open too, but no ``ready``."""
    listener = pipeline().subscribe(workspace)
    try:
        yield f"retry: {RETRY_MS}\nevent: ready\ndata: live\n\n"
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


def held(streams: Streams, workspace: str) -> Iterator[str]:
    """A stream when one is free, else word to come back later. Taken only once the server sends the body,
    and given back however it ends, so that no failure after the view returned can keep it."""
    if not streams.take():
        yield f"retry: {BUSY_RETRY_MS}\n: busy, every live stream is taken\n\n"
        return
    try:
        yield from stream(workspace)
    finally:
        streams.give_back()


@events.get("/events")
@needs(Need.VIEWER)
@operation("Every upload and step change, live, as server-sent events.",
           {200: "text/event-stream", 401: "text/plain"}, keyed=False)
def event_stream() -> Response:
    streams: Streams = current_app.extensions["medialens.streams"]
    return Response(
        stream_with_context(held(streams, g.workspace)),
        mimetype="text/event-stream",
        # No proxy may buffer the stream, or the page would see changes late.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
