"""A call that allocates far past its function's memory limit fails alone, with a plain reason, and the
functions host lives on as the same process (issue 15)."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from embedded.settings import free_port
from embedded.stack import PROJECT, alive
from functions.common.contract import OUT_OF_MEMORY
from host import memory
from host.memory import MemoryBound
from tests.functions.analyzer_media import encode, render_text

TOKEN = "memory-bound-test-token"
MIB = 1024**2


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def blank_png(side: int) -> bytes:
    """A grey square PNG of side x side pixels, a few hundred kB however large: one row compressed over and over."""
    row, pack = b"\x00" + b"\x80" * side, zlib.compressobj(1)
    data = b"".join(pack.compress(row) for _ in range(side)) + pack.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


@pytest.fixture
def host(function_store: str, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A functions host whose pixel guard is off, as a misconfiguration or a decoder bug would leave it:
    the memory bound is all that stands between a bomb and the machine."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "MEDIALENS_HOST_PORT": str(port), "MEDIALENS_HOST_TOKEN": TOKEN,
           "MEDIALENS_HOST_FUNCTIONS": "ocr,probe", "MEDIALENS_FN_ALLOWED_ORIGINS": function_store,
           "MEDIALENS_FN_MAX_PIXELS": str(4_000_000_000)}
    with (tmp_path / "host.log").open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "host"], env=env, cwd=PROJECT, stdout=log,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not all(ready(url, name) for name in ("ocr", "probe")):
            assert process.poll() is None, (tmp_path / "host.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the host did not load its functions"
            time.sleep(0.5)
        yield url, process
    finally:
        process.terminate()
        process.wait(30)


def ready(url: str, name: str) -> bool:
    try:
        return httpx.post(f"{url}/function/{name}", json={}, headers=auth(), timeout=5).status_code != 503
    except httpx.HTTPError:
        return False


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def call(url: str, name: str, source: str) -> httpx.Response:
    return httpx.post(f"{url}/function/{name}", json={"source": {"url": source}}, headers=auth(), timeout=120)


def test_a_bomb_fails_its_own_call_and_the_host_serves_on(
    host: tuple[str, subprocess.Popen[bytes]], source_url: Callable[..., str]
) -> None:
    url, process = host
    bomb = source_url(blank_png(24_000), "image/png")  # 576 Mpx: 2.3 GB as RGB, OCR may use 1.5 GiB
    page = source_url(encode(render_text(32, ["MEMORY BOUND"])), "image/png")
    with ThreadPoolExecutor(2) as pool:
        hostile = pool.submit(call, url, "ocr", bomb)
        time.sleep(0.5)
        beside = [call(url, "probe", page), call(url, "ocr", page)]
        refused = hostile.result()
    assert refused.status_code == 500 and refused.json()["error"] == OUT_OF_MEMORY, refused.text
    assert all(reply.status_code == 200 for reply in beside), [reply.text for reply in beside]
    assert "MEMORY" in beside[1].json()["text"]
    assert alive(process.pid) and process.poll() is None, "the host is the same process"
    again = call(url, "ocr", page)
    assert again.status_code == 200 and "BOUND" in again.json()["text"]


def test_the_bound_is_idle_size_plus_the_limits_of_the_calls_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    limits: list[int | None] = []
    monkeypatch.setattr(memory, "set_data_limit", lambda limit: limits.append(None if limit < 0 else limit))
    monkeypatch.setattr(memory, "data_size", lambda statm: 1000 * MIB)
    loaded = False
    bound = MemoryBound(lambda: loaded, slack=100 * MIB)
    with bound.call(500 * MIB):
        assert limits == [], "no bound while models load"
    loaded = True
    with bound.call(500 * MIB):
        with bound.call(200 * MIB):
            pass
    assert limits == [1600 * MIB, 1800 * MIB, 1600 * MIB, None], "lifted when no call runs"


def test_out_of_memory_is_a_plain_sentence_and_not_a_damaged_file(call_function: Any, monkeypatch: pytest.MonkeyPatch,
                                                                   source_url: Callable[..., str]) -> None:
    from functions.common import images

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError

    monkeypatch.setattr(images.Image.Image, "convert", refused)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, "PNG")
    status, body = call_function("thumbnail", {"source": {"url": source_url(buffer.getvalue())}})
    assert (status, body["error"]) == (500, OUT_OF_MEMORY)


def test_the_idle_size_is_read_afresh_from_the_file_kept_open() -> None:
    bound = MemoryBound(lambda: True)
    before = memory.data_size(bound.statm)
    grown = bytearray(64 * MIB)  # private, writable: what RLIMIT_DATA counts
    assert memory.data_size(bound.statm) - before >= 63 * MIB, "each read sees the process as it is now"
    del grown  # held until the second read
