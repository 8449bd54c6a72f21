"""`make up` from stopped to healthy: how long it takes, when each service answered, and the CPU each had
spent by then.

A start is bound by the cores: the Python services import their libraries side by side, so what one spends
slows the others. Measured with the worker count `make up` uses, on the models `make models` installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rq import Worker

from bench import cores
from embedded.settings import EmbeddedSettings, on_free_ports
from embedded.stack import PROJECT, Stack, http_ok, port_open

GOAL_S = 15.0


def answering(settings: EmbeddedSettings) -> dict[str, Callable[[], bool]]:
    """What `make up` waits for, asked as a caller would; the workers and the bridge answer no one. Not the
    services' own checks (`Stack.services`): reading those makes the stack's secrets, which the first start
    is to make itself."""
    s = settings

    def opened(port: int) -> Callable[[], bool]:
        return lambda: port_open(s.host, port)

    return {
        "redis": opened(s.redis_port), "seaweedfs": opened(s.s3_port), "index": opened(s.index_port),
        "functions": http_ok(s.url(s.gateway_port) + "/healthz"), "intake": http_ok(s.url(s.intake_port) + "/healthz"),
        "ui": http_ok(s.url(s.ui_port) + "/healthz"),
    }


def start(settings: EmbeddedSettings) -> dict[str, Any]:
    """One `python -m embedded up`: its seconds, when each service first answered, and each one's CPU seconds
    when it returned."""
    env = {**os.environ, **settings.as_environment()}
    checks, answered = answering(settings), {}
    began = time.perf_counter()
    command = subprocess.Popen([sys.executable, "-m", "embedded", "up"], env=env, cwd=PROJECT,
                               stdout=subprocess.DEVNULL)

    def watch() -> None:
        while command.poll() is None:
            for name, check in checks.items():
                if name not in answered and check():
                    answered[name] = round(time.perf_counter() - began, 2)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    if command.wait() != 0:
        raise RuntimeError(f"`python -m embedded up` failed (exit {command.returncode})")
    seconds = time.perf_counter() - began
    watcher.join()
    stack = Stack(settings)
    cpu = cores.service_cpu(stack)
    # The workers start once the rest answers: how much later they are all there to take a job.
    redis = stack.redis()
    while Worker.count(connection=redis) < settings.workers:
        if time.perf_counter() - began > settings.ready_timeout_s:
            raise RuntimeError(f"the workers did not all register within {settings.ready_timeout_s:g} s")
        time.sleep(0.05)
    workers_s = time.perf_counter() - began
    subprocess.run([sys.executable, "-m", "embedded", "down"], env=env, cwd=PROJECT, check=True,
                   stdout=subprocess.DEVNULL)
    return {"seconds": round(seconds, 2), "answered_s": answered, "workers_s": round(workers_s, 2),
            "cpu_s": {k: round(v, 2) for k, v in cpu.items()}}


def run() -> dict[str, Any]:
    """A first start (secrets and buckets made) and a second on the same state."""
    installed = Path(EmbeddedSettings().model_dir).resolve()
    with tempfile.TemporaryDirectory() as state:
        settings = on_free_ports(Path(state), installed, workers=EmbeddedSettings().workers)
        first = start(settings)
        again = start(settings)
    return {"workers": settings.workers, "first": first, "again": again}


def markdown(result: dict[str, Any]) -> str:
    first, again = result["first"], result["again"]
    met = "yes" if first["seconds"] < GOAL_S else "**no**"
    rows = [
        "| | seconds | goal | met |",
        "|---|---|---|---|",
        f"| `make up`, first start (secrets and buckets made) | {first['seconds']:.1f} | < {GOAL_S:g} | {met} |",
        f"| `make up` again, on the same state | {again['seconds']:.1f} | | |",
        f"| every worker registered, ready for a job (first start) | {first['workers_s']:.1f} | | |",
        "",
        "| service | answered after (s), first start | CPU seconds spent by then |",
        "|---|---|---|",
    ]
    cpu = first["cpu_s"]
    for name in sorted(cpu, key=lambda service: (first["answered_s"].get(service, first["seconds"]), service)):
        answered = first["answered_s"].get(name)
        rows.append(f"| {name} | {'-' if answered is None else f'{answered:.1f}'} | {cpu[name]:.2f} |")
    rows += [
        f"| **every service** | | **{sum(cpu.values()):.2f}** |",
        "",
        f"{result['workers']} workers, on the machine named at the top of this file. Seconds count from the "
        "command's start; a dash is a service that answers no caller (the workers and the bridge start once the "
        "others answer: an upload made before they are all registered waits for them). SeaweedFS answered when its "
        "S3 port opened; `make up` also waits for its buckets. CPU is each service's processes and the children "
        "they started, read when `make up` returned; the command itself is not counted.",
    ]
    return "\n".join(rows)
