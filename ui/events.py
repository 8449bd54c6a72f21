"""Server-sent events: every upload and step change from the Redis channel, live to the browser."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from flask import Blueprint, Flask, Response, current_app, g, request, stream_with_context

from scheduler.keys import text

from .access import Need, needs
from .context import pipeline
from .openapi import operation

events = Blueprint("events", __name__)

# A comment line now and then keeps proxies from closing a quiet stream, and lets a dead connection be noticed
# by servers that cannot tell otherwise.
KEEPALIVE_S = 15.0
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


def never() -> bool:
    return False


def stream(workspace: str, gone: Callable[[], bool] = never, lifetime_s: float = STREAM_LIFETIME_S) -> Iterator[str]:
    """The workspace's changes as server-sent events, until ``lifetime_s`` has passed or the client is ``gone``."""
    listener = pipeline().subscribe(workspace)
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        ends = time.monotonic() + lifetime_s
        last_sent = time.monotonic()
        while time.monotonic() < ends and not gone():
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
    streams: Streams = current_app.extensions["medialens.streams"]
    taken = streams.take()
    if taken:
        # waitress tells when the client has closed the connection: a closed tab frees its thread within a second.
        gone = request.environ.get("waitress.client_disconnected", never)
        body: Iterator[str] = stream_with_context(stream(g.workspace, gone))
    else:
        body = iter([f"retry: {BUSY_RETRY_MS}\n: busy, every live stream is taken\n\n"])
    reply = Response(
        body,
        mimetype="text/event-stream",
        # No proxy may buffer the stream, or the page would see changes late.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    if taken:
        # The server closes every response it has sent, streamed to the end or not.
        reply.call_on_close(streams.give_back)
    return reply
