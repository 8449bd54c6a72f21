"""`make up` / `make down` and the `medialens` command, on the real embedded stack."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from PIL import Image
from skimage import data as samples

from embedded.settings import EmbeddedSettings, on_free_ports, outgoing_ports
from embedded.stack import PROJECT, Stack, alive


def environment(settings: EmbeddedSettings) -> dict[str, str]:
    return {**os.environ, **settings.as_environment()}


def test_a_second_up_says_it_runs_and_starts_nothing(running_stack: Stack) -> None:
    before = running_stack.running()
    supervisor = running_stack.supervisor_pid()
    assert supervisor is not None, "`up` runs the stack under its supervisor"
    finished = subprocess.run(
        [sys.executable, "-m", "embedded", "up"], env=environment(running_stack.settings), cwd=PROJECT,
        capture_output=True, text=True, timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    assert "already running" in finished.stdout
    assert running_stack.running() == before
    assert running_stack.supervisor_pid() == supervisor


def test_the_functions_host_runs_with_two_malloc_arenas(running_stack: Stack) -> None:
    # glibc's default (8 arenas a core) held about 300 MiB more in the host after a batch (embedded/stack.py).
    host = psutil.Process(running_stack.pid("functions"))
    assert host.environ().get("MALLOC_ARENA_MAX") == os.environ.get("MALLOC_ARENA_MAX", "2"), "an operator's own wins"


def test_every_weed_process_collects_before_its_heap_grows_by_a_quarter(running_stack: Stack) -> None:
    # Go's default (GOGC=100) held 391 MiB in weed mini after 1,000 pictures, growing (embedded/seaweedfs.py).
    wanted = os.environ.get("GOGC", "25")  # an operator's own wins
    assert psutil.Process(running_stack.pid("seaweedfs")).environ().get("GOGC") == wanted
    deadline = time.monotonic() + 30
    while True:  # the bridge starts its tail again after a silence: one may end while it is read
        try:
            tails = [p.environ() for p in psutil.Process(running_stack.pid("bridge")).children() if p.name() == "weed"]
        except psutil.NoSuchProcess:
            tails = []
        if tails:
            break
        assert time.monotonic() < deadline, "the bridge runs no weed tail"
        time.sleep(0.2)
    assert all(tail.get("GOGC") == wanted for tail in tails)


def test_a_second_stack_listens_below_the_ports_of_outgoing_connections(tmp_path: Path) -> None:
    # A client's connection held the web app's port of a test stack in the ephemeral range: it could not bind.
    settings = on_free_ports(tmp_path / "state", tmp_path / "models")
    highest = max(settings.seaweed_port_base + 10000 + 19, settings.redis_port, settings.gateway_port,
                  settings.intake_port, settings.ui_port, settings.index_port, *settings.shared_ports)
    assert highest < outgoing_ports()[0]


def test_down_stops_everything_up_started(tmp_path: Path) -> None:
    settings = on_free_ports(tmp_path / "state", tmp_path / "models")
    stack = Stack(settings)
    stack.up(only=["redis", "seaweedfs"])
    pids = stack.running()
    assert set(pids) == {"redis", "seaweedfs"}
    assert sorted(stack.down()) == ["redis", "seaweedfs"]
    assert not any(alive(pid) for pid in pids.values())
    assert stack.running() == {}


def test_two_web_app_processes_share_its_port_and_one_answers_alone(tmp_path: Path) -> None:
    settings = on_free_ports(tmp_path / "state", tmp_path / "models").model_copy(update={"ui_processes": 2})
    stack = Stack(settings)
    try:
        stack.up(only=["redis", "seaweedfs", "index", "ui", "ui-2"])
        processes = {name: psutil.Process(stack.pid(name)) for name in ("ui", "ui-2")}
        # Connections held open: the kernel spreads them over both processes.
        clients = [httpx.Client(base_url=settings.url(settings.ui_port), timeout=30) for _ in range(24)]
        assert {client.get("/healthz").status_code for client in clients} == {200}
        serving = {name for name, process in processes.items()
                   if any(held.laddr.port == settings.ui_port and held.status == psutil.CONN_ESTABLISHED
                          for held in process.net_connections("tcp"))}
        assert serving == {"ui", "ui-2"}
        for client in clients:
            client.close()

        processes["ui"].kill()
        processes["ui"].wait(10)
        answers = [httpx.get(settings.url(settings.ui_port) + "/healthz", timeout=30).status_code for _ in range(24)]
        assert answers == [200] * 24, "the other process answers every new connection alone"
    finally:
        stack.down()


def test_medialens_analyze_uploads_follows_and_prints(running_stack: Stack, api_key: str, tmp_path: Path) -> None:
    picture, notes = tmp_path / "coffee.png", tmp_path / "notes.jpg"
    buffer = io.BytesIO()
    Image.fromarray(samples.coffee()).save(buffer, "PNG")
    picture.write_bytes(buffer.getvalue())
    notes.write_text("not a picture at all\n")
    s = running_stack.settings
    finished = subprocess.run(
        [str(Path(sys.executable).parent / "medialens"), "analyze", str(picture), str(notes),
         "--api", s.url(s.ui_port), "--api-key", api_key, "--timeout", "300"],
        capture_output=True, text=True, timeout=360, cwd=PROJECT,
    )
    assert finished.returncode == 1, "one of the two files failed, so the command says so"
    lines = finished.stdout.splitlines()
    assert f"{picture}: done" in lines, finished.stderr[-2000:]
    assert any(line.startswith(f"{notes}: failed - probe: the file is not a media file") for line in lines)
    answers = [line.strip() for line in lines]
    assert any(line.startswith("image 400x600") or line.startswith("image 600x400") for line in answers), lines
    assert "faces: 0" in answers and any(line.startswith("labels: ") for line in answers), lines
    assert "coffee.png" in finished.stderr, "the progress bars name each file"
