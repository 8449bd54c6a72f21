"""Turns SeaweedFS filer events into MinIO webhook notifications posted to the intake.

SeaweedFS has no bucket notifications, so this bridge tails the filer's metadata log and posts
exactly what MinIO's webhook target would. It remembers the timestamp of the last event the
intake accepted and replays from there after any restart; intake is idempotent, so the small
overlap it replays is harmless, and no upload is missed.

A filer subscription can stop delivering while its process lives on (SeaweedFS issues 6182, 8730,
10733), and a tail that is merely idle looks the same from here. So a tail silent for
`bridge_silence_s` is restarted from the stored offset: a live one loses nothing by it, a stuck one
hands over what it held back. The wait doubles while the filer stays quiet, up to 8 times (4 minutes by
default), so an idle store is not read over and over. Time spent posting to the intake is not silence.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

from storage.events import EventError, UploadEvent, minio_notification

from .seaweedfs import meta_tail_command, runtime_env
from .settings import EmbeddedSettings

logger = logging.getLogger(__name__)

INITIAL_LOOKBACK_S = 7 * 24 * 3600
REPLAY_MARGIN_S = 2.0
LONGEST_SILENCE_FACTOR = 8


def parse_stream(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """`weed filer.meta.tail` prints one indented JSON object per event."""
    buffer: list[str] = []
    for line in lines:
        buffer.append(line)
        if line.rstrip("\n") == "}":
            text = "".join(buffer)
            buffer.clear()
            try:
                yield json.loads(text)
            except json.JSONDecodeError:
                logger.warning("skipping unreadable filer event: %.200s", text)


def _decoded(value: str) -> str:
    try:
        return base64.b64decode(value).decode()
    except (ValueError, UnicodeDecodeError):
        return value


def upload_event(record: dict[str, Any], bucket: str) -> UploadEvent | None:
    """The upload a filer event stands for, or None (directories, deletes, multipart parts)."""
    note = record.get("eventNotification") or {}
    entry = note.get("newEntry")
    if not entry or entry.get("isDirectory"):
        return None
    parent = note.get("newParentPath") or record.get("directory") or ""
    root = f"/buckets/{bucket}"
    path = f"{parent.rstrip('/')}/{entry['name']}"
    if not path.startswith(root + "/") or "/.uploads/" in path:
        return None
    attributes = entry.get("attributes") or {}
    extended = entry.get("extended") or {}
    etag = _decoded(extended["Seaweed-X-Amz-ETag"]) if "Seaweed-X-Amz-ETag" in extended else ""
    if not etag and attributes.get("md5"):
        etag = base64.b64decode(attributes["md5"]).hex()
    size = int(attributes.get("fileSize") or 0)
    if not etag:
        etag = f"{attributes.get('mtime', '0')}-{size}"
    metadata = {
        name[len("X-Amz-Meta-") :].lower(): _decoded(value)
        for name, value in extended.items()
        if name.lower().startswith("x-amz-meta-")
    }
    return UploadEvent(
        bucket=bucket,
        key=path[len(root) + 1 :],
        etag=etag,
        size=size,
        content_type=str(attributes.get("mime") or ""),
        user_metadata=metadata,
    )


class Offset:
    """The filer timestamp (ns) of the last event the intake accepted, kept in a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def write(self, ts_ns: int) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(str(ts_ns))
        os.replace(temporary, self.path)

    def seconds_ago(self) -> float:
        stored = self.read()
        if stored is None:
            return INITIAL_LOOKBACK_S
        return time.time() - stored / 1e9 + REPLAY_MARGIN_S


class FilerBridge:
    def __init__(
        self,
        settings: EmbeddedSettings,
        bucket: str,
        intake_url: str,
        token: str,
        offset: Offset,
        config_dir: Path,
    ) -> None:
        """``config_dir`` holds SeaweedFS's security.toml: the tail runs there, to present the
        client certificate the filer's gRPC demands."""
        self.settings = settings
        self.config_dir = config_dir
        self.bucket = bucket
        self.intake_url = intake_url
        self.token = token
        self.offset = offset
        self.stopping = threading.Event()
        self.client = httpx.Client(timeout=10.0)
        self.silence_s = settings.bridge_silence_s
        self.heard = time.monotonic()
        self.handling = False  # a record is being posted: the tail's silence meanwhile is ours, not its
        # Filer timestamps of the events handled in the last REPLAY_MARGIN_S: a restarted tail
        # replays them, and this process does not post them again.
        self.handled: set[int] = set()

    def deliver(self, event: UploadEvent) -> None:
        """Posts until the intake accepts: MinIO's webhook target retries the same way."""
        delay = 0.2
        while not self.stopping.is_set():
            try:
                reply = self.client.post(
                    self.intake_url,
                    json=minio_notification(event),
                    headers={"Authorization": f"Bearer {self.token}"},
                )
                if reply.is_success:
                    return
                logger.warning("intake answered %s for %s; retrying", reply.status_code, event.key)
            except httpx.HTTPError as exc:
                logger.warning("intake unreachable (%s) for %s; retrying", exc, event.key)
            self.stopping.wait(delay)
            delay = min(delay * 2, 5.0)

    def tail_once(self) -> None:
        command = meta_tail_command(self.settings, f"/buckets/{self.bucket}/", self.offset.seconds_ago())
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=self.config_dir,
                                   env={**os.environ, **runtime_env()})
        assert process.stdout is not None
        self.heard = time.monotonic()
        watch = threading.Thread(target=self.watch, args=(process,), daemon=True)
        watch.start()
        try:
            for record in parse_stream(process.stdout):
                self.handling = True
                try:
                    if self.handle(record):
                        self.silence_s = self.settings.bridge_silence_s
                finally:
                    self.heard = time.monotonic()
                    self.handling = False
                if self.stopping.is_set():
                    return
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:  # a stopped process waits for SIGKILL
                process.kill()
                process.wait()
            watch.join()

    def handle(self, record: dict[str, Any]) -> bool:
        """Posts the upload a filer event stands for, once per process, then stores its timestamp;
        false for an event this process has handled already."""
        ts_ns = int(record.get("tsNs") or 0)
        if ts_ns in self.handled:
            return False
        try:
            event = upload_event(record, self.bucket)
        except EventError as exc:
            # The intake would refuse it too; stopping here would replay it forever.
            logger.warning("skipping filer event: %s", exc)
            event = None
        if event is not None:
            self.deliver(event)
            if self.stopping.is_set():
                return True
        self.offset.write(ts_ns)
        oldest = ts_ns - int(REPLAY_MARGIN_S * 1e9)
        self.handled = {seen for seen in self.handled if seen >= oldest}
        self.handled.add(ts_ns)
        return True

    def watch(self, process: subprocess.Popen[str]) -> None:
        """Kills the tail when the bridge stops, or once it has said nothing for `silence_s` (`run`
        then starts another)."""
        while process.poll() is None:
            silent = 0.0 if self.handling else time.monotonic() - self.heard
            if not self.stopping.is_set() and silent < self.silence_s:
                self.stopping.wait(min(1.0, self.silence_s - silent))
                continue
            if not self.stopping.is_set():
                logger.info("filer tail silent for %.0f s: restarting it from the stored offset", silent)
                self.silence_s = min(self.silence_s * 2, self.settings.bridge_silence_s * LONGEST_SILENCE_FACTOR)
            process.kill()
            return

    def run(self) -> None:
        """Tails the filer until stopped; restarts the tail when SeaweedFS goes away."""
        if self.offset.read() is None:
            logger.info("no stored offset: replaying the last %d s", INITIAL_LOOKBACK_S)
        while not self.stopping.is_set():
            self.tail_once()
            self.stopping.wait(1.0)


def main() -> None:
    from functions.common.logs import configure_logging
    from storage.settings import StorageSettings

    configure_logging("bridge")
    settings = EmbeddedSettings()
    token = os.environ["MEDIALENS_SCHEDULER_INTAKE_TOKEN"]
    intake = os.environ.get("MEDIALENS_BRIDGE_INTAKE_URL", settings.url(settings.intake_port) + "/events")
    offset = Offset(settings.state_dir / "bridge.offset")
    store = StorageSettings()
    bridge = FilerBridge(settings, store.uploads_bucket, intake, token, offset, store.seaweed_config_dir)
    import signal

    signal.signal(signal.SIGTERM, lambda *_: bridge.stopping.set())
    bridge.run()


if __name__ == "__main__":
    main()
