"""The filer bridge against a real SeaweedFS: a filer tail that stops delivering is replaced without
losing an upload, no upload is posted twice by one bridge, and the bridge stops promptly."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import psutil
import pytest

from embedded.bridge import FilerBridge, Offset
from embedded.stack import Stack
from tests.waiting import wait_until

TOKEN = "bridge-test-token"
BUCKET = "bridge-test"


class Posted:
    """The object keys an intake stand-in was sent, with a valid token."""

    def __init__(self) -> None:
        self.keys: Counter[str] = Counter()
        self.lock = threading.Lock()

    def add(self, notification: dict[str, Any]) -> None:
        with self.lock:
            for record in notification["Records"]:
                self.keys[unquote_plus(record["s3"]["object"]["key"])] += 1

    def wait_for(self, key: str) -> None:
        wait_until(lambda: self.keys[key] > 0, 30, lambda: f"{key} posted (posted: {dict(self.keys)})")


@pytest.fixture
def intake_url() -> Iterator[tuple[str, Posted]]:
    """Where the bridge posts: a recorder of MinIO notifications (the intake's own tests are elsewhere)."""
    posted = Posted()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_response(401)
            else:
                posted.add(json.loads(body))
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/events", posted
    server.shutdown()
    server.server_close()


def unique(name: str) -> str:
    return f"{uuid.uuid4().hex[:8]}-{name}"


def filer_tails() -> list[psutil.Process]:
    """This test's filer tails: children of this process (the stack's own bridge tails the uploads bucket
    from a process of its own)."""
    found = []
    for child in psutil.Process().children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and f"-pathPrefix=/buckets/{BUCKET}/" in child.cmdline():
                found.append(child)
        except psutil.NoSuchProcess:  # a tail that ended between the listing and the look
            continue
    return found


def one_tail(within_s: float = 30.0) -> psutil.Process:
    """The one tail running, once there is exactly one (a restart leaves none for a moment)."""
    deadline = time.monotonic() + within_s
    while len(tails := filer_tails()) != 1:
        assert time.monotonic() < deadline, f"not one filer tail within {within_s} s: {tails}"
        time.sleep(0.05)
    return tails[0]


def stopped(process: psutil.Process) -> bool:
    return bool(process.status() == psutil.STATUS_STOPPED)


def freeze_a_tail() -> psutil.Process:
    """Stops the running tail as a stuck subscription would be: alive, saying nothing."""
    while True:
        tail = one_tail()
        try:
            tail.suspend()
            wait_until(partial(stopped, tail), 5, "the tail stopped")
            return tail
        except psutil.NoSuchProcess:  # restarted just then: freeze its successor
            continue


def test_a_frozen_filer_tail_is_replaced_and_every_upload_is_posted_once(
    stack: Stack, s3_client: Any, intake_url: tuple[str, Posted], tmp_path: Path
) -> None:
    url, posted = intake_url
    if BUCKET not in {bucket["Name"] for bucket in s3_client.list_buckets()["Buckets"]}:
        s3_client.create_bucket(Bucket=BUCKET)
    offset = Offset(tmp_path / "bridge.offset")
    offset.write(time.time_ns())
    settings = stack.settings.model_copy(update={"bridge_silence_s": 2.0})
    bridge = FilerBridge(settings, BUCKET, url, TOKEN, offset, stack.seaweed_dir)
    running = threading.Thread(target=bridge.run, daemon=True)
    running.start()
    try:
        first = unique("before.jpg")
        s3_client.put_object(Bucket=BUCKET, Key=first, Body=b"first")
        posted.wait_for(first)

        # A subscription that stops delivering while its process lives on, as SeaweedFS's can.
        frozen = freeze_a_tail()
        second = unique("while-frozen.jpg")
        s3_client.put_object(Bucket=BUCKET, Key=second, Body=b"second")
        posted.wait_for(second)
        assert not frozen.is_running() or frozen.status() == psutil.STATUS_ZOMBIE

        # Idle tails are restarted too, each replaying the last event: it is not posted again.
        quiet = one_tail()
        wait_until(lambda: quiet.pid not in {tail.pid for tail in filer_tails()}, 30, "a quiet tail restarted")
        one_tail()
        assert posted.keys[first] == 1 and posted.keys[second] == 1, dict(posted.keys)
    finally:
        bridge.stopping.set()
        running.join(timeout=15)
    assert not running.is_alive(), "the bridge did not stop"
    assert filer_tails() == []
