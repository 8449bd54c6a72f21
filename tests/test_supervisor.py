"""The supervisor keeps every embedded component alive, `up` starts what is missing, `down` drains (issue 15)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from embedded.settings import EmbeddedSettings
from embedded.stack import PROJECT, SUPERVISOR, Service, Stack, alive
from embedded.supervisor import Supervisor
from tests.conftest import jpeg, wait_for_upload
from tests.test_pipeline import unique
from tests.waiting import wait_until

RESTART_WITHIN_S = 20.0


def embedded(stack: Stack, command: str) -> subprocess.CompletedProcess[str]:
    """`make up` / `make down` on this stack."""
    return subprocess.run(
        [sys.executable, "-m", "embedded", command], env={**os.environ, **stack.settings.as_environment()},
        cwd=PROJECT, capture_output=True, text=True, timeout=300,
    )


def supervisor_log(stack: Stack) -> list[dict[str, Any]]:
    lines = (stack.log_dir / f"{SUPERVISOR}.log").read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def back_again(stack: Stack, name: str, old_pid: int) -> float:
    """Seconds until the service runs as a new process and answers its health check."""
    service = next(s for s in stack.services() if s.name == name)
    began = time.monotonic()
    while time.monotonic() - began < RESTART_WITHIN_S:
        pid = stack.pid(name)
        if pid is not None and pid != old_pid and service.ready():
            return time.monotonic() - began
        time.sleep(0.1)
    raise AssertionError(f"{name} did not come back within {RESTART_WITHIN_S} s")


def test_the_backoff_doubles_to_its_cap_and_starts_over_after_a_healthy_while(tmp_path: Path) -> None:
    settings = EmbeddedSettings(state_dir=tmp_path, restart_backoff_s=0.5, restart_backoff_max_s=3.0,
                                restart_reset_s=60.0)
    supervisor = Supervisor(Stack(settings))
    child = supervisor.children[0]
    child.started = time.monotonic()
    assert [supervisor.backoff(child) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    child.started = time.monotonic() - 61
    assert supervisor.backoff(child) == 0.5


class OrderedStack(Stack):
    """A stack of four small processes: a store, two services that answer and a worker, each saying what it
    found on starting."""

    def services(self) -> list[Service]:
        state = self.state

        def process(script: str) -> list[str]:
            return [sys.executable, "-c", f"import pathlib, time; state = pathlib.Path({str(state)!r}); {script}; "
                                          "time.sleep(300)"]

        def says(name: str, found: str = "store.ready") -> str:
            return (f"state.joinpath('{name}.found').write_text(str(state.joinpath('{found}').exists())); "
                    f"state.joinpath('{name}.started').touch()")

        return [
            Service("store", process("time.sleep(0.5); state.joinpath('store.ready').touch()"),
                    lambda: (state / "store.ready").exists(), foundation=True),
            # The first answers only once the second has started: waited for before the second starts, it never would.
            Service("first", process(says("first")),
                    lambda: (state / "first.started").exists() and (state / "second.started").exists()),
            # Answers a while after it starts: a worker started beside it finds it not yet there.
            Service("second", process("time.sleep(1); " + says("second")), lambda: (state / "second.started").exists()),
            Service("worker", process(says("worker", found="second.started")), lambda: True, background=True),
        ]


def test_services_start_once_the_stores_answer_all_at_once_and_workers_last(tmp_path: Path) -> None:
    stack = OrderedStack(EmbeddedSettings(state_dir=tmp_path, ready_timeout_s=60.0))
    supervisor = Supervisor(stack)
    try:
        supervisor.adopt_or_start()
        assert all(child.running() for child in supervisor.children), "every service answered and runs"
        assert (tmp_path / "first.found").read_text() == "True", "the store answered before the others started"
        assert (tmp_path / "second.found").read_text() == "True"
        found = wait_until(lambda: (tmp_path / "worker.found").exists() and (tmp_path / "worker.found").read_text(),
                           30, "the worker to say what it found")
        assert found == "True", "the worker started once the services that answer had answered"
    finally:
        stack.down()


def test_a_worker_that_already_runs_is_taken_over_before_the_others_answer(tmp_path: Path) -> None:
    # A worker left running (a supervisor that died): a drain must find it even while the rest still starts.
    stack = OrderedStack(EmbeddedSettings(state_dir=tmp_path, ready_timeout_s=60.0))
    stack.up(only=["worker"])
    supervisor = Supervisor(stack)
    worker = next(child for child in supervisor.children if child.name == "worker")
    starting = threading.Thread(target=supervisor.adopt_or_start)
    try:
        starting.start()
        wait_until(lambda: worker.pid is not None, 30, "the supervisor to take the worker over")
        assert not (tmp_path / "second.started").exists(), "taken over before the services that answer had"
        assert worker.pid == stack.pid("worker"), "the running worker was adopted, not started again"
        starting.join(60)
    finally:
        stack.down()


@pytest.mark.parametrize("name", ["functions", "worker-1", "intake", "bridge"])
def test_a_killed_component_comes_back_by_itself(
    name: str, running_stack: Stack, s3_client: Any, api: httpx.Client
) -> None:
    pid = running_stack.pid(name)
    assert pid is not None and running_stack.supervisor_pid() is not None
    os.kill(pid, signal.SIGKILL)
    took = back_again(running_stack, name, pid)
    print(f"{name} back in {took:.1f} s")
    restarts = [entry for entry in supervisor_log(running_stack)
                if entry.get("service") == name and entry.get("exit_code") == -signal.SIGKILL]
    assert restarts and restarts[-1]["wait_s"] >= 0, "the restart is logged with its exit code and wait"
    key = unique(f"after-{name}.jpg")
    s3_client.put_object(Bucket="uploads", Key=key, Body=jpeg(color=(7, len(name), 70)), ContentType="image/jpeg")
    assert wait_for_upload(api, key)["state"] == "done"


def test_up_restarts_only_what_is_missing(running_stack: Stack) -> None:
    # No supervisor and one service dead: a stack as an older release, or a crash, leaves it.
    os.kill(running_stack.supervisor_pid() or 0, signal.SIGKILL)
    killed = running_stack.pid("worker-2")
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    while alive(killed):
        time.sleep(0.05)
    before = {name: pid for name, pid in running_stack.running().items() if name != "worker-2"}
    finished = embedded(running_stack, "up")
    assert finished.returncode == 0, finished.stderr
    assert "already running" not in finished.stdout
    assert "started worker-2" in finished.stdout
    after = running_stack.running()
    assert {name: after[name] for name in before} == before, "what ran was adopted, not restarted"
    assert after["worker-2"] != killed
    assert running_stack.supervisor_pid() is not None


def test_down_in_the_middle_of_a_batch_drains_and_up_finishes_it(
    running_stack: Stack, s3_client: Any, api: httpx.Client
) -> None:
    keys = [unique(f"drain-{n}.jpg") for n in range(5)]
    for n, key in enumerate(keys):
        s3_client.put_object(Bucket="uploads", Key=key, Body=jpeg(color=(n, 90, 9)), ContentType="image/jpeg")
    deadline = time.monotonic() + 60
    while not api.get("/uploads", params={"state": "running"}).json()["uploads"]:
        assert time.monotonic() < deadline, "no upload started"
        time.sleep(0.1)
    try:
        stopped = embedded(running_stack, "down")
        assert stopped.returncode == 0, stopped.stderr
        assert running_stack.running() == {} and running_stack.supervisor_pid() is None, "nothing left running"
    finally:
        # Whatever happened above, the session's stack comes back for the tests after this one.
        started = embedded(running_stack, "up")
    assert started.returncode == 0, started.stderr
    # A worker that finished its job, or one killed after the drain time whose job RQ took back:
    # either way every upload of the batch ends done, once.
    for key in keys:
        assert wait_for_upload(api, key)["state"] == "done"
        assert api.get("/uploads", params={"key": key}).json()["total"] == 1, "one upload per file"
