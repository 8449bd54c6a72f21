"""Starts, watches and stops every process of the embedded stack.

Each service runs detached, with its pid file under <state>/run and its log under <state>/logs,
so `up` can tell that a stack already runs and `down` stops exactly what `up` started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
from redis import Redis

from gpu.settings import GpuSettings
from storage.client import Store
from storage.settings import StorageSettings

from . import redis_server, seaweedfs
from .private import UMASK, open_private_append, private_dir, tighten, write_private
from .secrets import Secrets
from .settings import EmbeddedSettings

PROJECT = Path(__file__).resolve().parent.parent


@dataclass
class Service:
    name: str
    argv: list[str]
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = PROJECT


class StackError(RuntimeError):
    pass


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def alive(pid: int) -> bool:
    """True while the process runs; reaps it first when it is our child, so a zombie is dead."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Stack:
    def __init__(self, settings: EmbeddedSettings | None = None) -> None:
        self.settings = settings or EmbeddedSettings()
        self.state = self.settings.state_dir.resolve()
        self.run_dir = self.state / "run"
        self.log_dir = self.state / "logs"
        self.secrets = Secrets.load_or_create(self.state)

    # -- configuration shared by every service ---------------------------------------------
    @property
    def gateway_token(self) -> str:
        """The bearer token of /function calls: the gateway password, one credential for the
        gateway as a GPU node has (bearer on functions, basic-auth password on /system)."""
        return self.secrets.gateway_password

    def environment(self) -> dict[str, str]:
        s, secrets = self.settings, self.secrets
        return {
            "MEDIALENS_S3_ENDPOINT": s.url(s.s3_port),
            "MEDIALENS_S3_ACCESS_KEY": secrets.s3_access_key,
            "MEDIALENS_S3_SECRET_KEY": secrets.s3_secret_key,
            "MEDIALENS_SCHEDULER_REDIS_URL": self.redis_url(),
            "MEDIALENS_SCHEDULER_GATEWAYS": json.dumps({"cpu": s.url(s.gateway_port)}),
            "MEDIALENS_SCHEDULER_GATEWAY_PASSWORD": secrets.gateway_password,
            "MEDIALENS_SCHEDULER_GATEWAY_TOKEN": self.gateway_token,
            "MEDIALENS_SCHEDULER_INTAKE_TOKEN": secrets.intake_token,
            "MEDIALENS_SCHEDULER_INTAKE_HOST": s.host,
            "MEDIALENS_SCHEDULER_INTAKE_PORT": str(s.intake_port),
            "MEDIALENS_HOST_HOST": s.host,
            "MEDIALENS_HOST_PORT": str(s.gateway_port),
            "MEDIALENS_HOST_BASIC_AUTH_PASSWORD": secrets.gateway_password,
            "MEDIALENS_HOST_TOKEN": self.gateway_token,
            "MEDIALENS_HOST_FUNCTIONS": s.functions,
            "MEDIALENS_UI_HOST": s.host,
            "MEDIALENS_UI_PORT": str(s.ui_port),
            "MEDIALENS_UI_SECRET_KEY": secrets.session_key,
            "MEDIALENS_EMBEDDED_STATE_DIR": str(self.state),
            "MEDIALENS_INDEX_PATH": str(self.state / "chroma"),
            "MEDIALENS_EMBEDDED_HOST": s.host,
            "MEDIALENS_EMBEDDED_SEAWEED_PORT_BASE": str(s.seaweed_port_base),
            "MEDIALENS_EMBEDDED_INTAKE_PORT": str(s.intake_port),
            "MEDIALENS_FN_MODEL_DIR": str((PROJECT / s.model_dir).resolve()),
            # The functions fetch and write through the one store this stack runs, and nowhere else.
            "MEDIALENS_FN_ALLOWED_ORIGINS": s.url(s.s3_port),
            "PYTHONPATH": str(PROJECT),
            "PYTHONUNBUFFERED": "1",
        }

    def redis_url(self, db: int = 0) -> str:
        """How every client reaches the stack's Redis, password included."""
        s = self.settings
        return f"redis://:{quote(self.secrets.redis_password, safe='')}@{s.host}:{s.redis_port}/{db}"

    def redis(self, db: int = 0) -> Redis:
        return Redis.from_url(self.redis_url(db))

    def services(self) -> list[Service]:
        s = self.settings
        python = sys.executable
        redis_dir = private_dir(self.state / "redis")
        seaweed_dir = private_dir(self.state / "seaweedfs")
        seaweedfs.write_security(
            seaweed_dir, self.secrets.seaweed_volume_jwt_key, self.secrets.seaweed_filer_jwt_key
        )
        redis_config = redis_server.write_config(redis_dir, self.secrets.redis_password)
        workers = [
            Service(f"worker-{n}", [python, "-m", "scheduler.worker"], lambda: True)
            for n in range(1, s.workers + 1)
        ]
        # The GPU manager rents paid nodes: it runs only where a Vast.ai key is configured.
        if GpuSettings().enabled:
            workers.append(Service("gpu-manager", [python, "-m", "gpu.manager"], lambda: True))
        return [
            Service("redis", redis_server.server_command(s, redis_dir, redis_config),
                    lambda: port_open(s.host, s.redis_port)),
            Service("seaweedfs", seaweedfs.mini_command(s, seaweed_dir), self._store_ready,
                    env=seaweedfs.credentials_env(self.secrets.s3_access_key, self.secrets.s3_secret_key),
                    cwd=seaweed_dir),
            Service("functions", [python, "-m", "host"], http_ok(s.url(s.gateway_port) + "/healthz")),
            Service("intake", [python, "-m", "scheduler.intake"], http_ok(s.url(s.intake_port) + "/healthz")),
            *workers,
            Service("bridge", [python, "-m", "embedded.bridge"], lambda: True),
            Service("ui", [python, "-m", "ui.app"], http_ok(s.url(s.ui_port) + "/healthz")),
        ]

    def store(self) -> Store:
        env = self.environment()
        return Store(StorageSettings(
            endpoint=env["MEDIALENS_S3_ENDPOINT"],
            access_key=self.secrets.s3_access_key,
            secret_key=self.secrets.s3_secret_key,
        ))

    def _store_ready(self) -> bool:
        if not port_open(self.settings.host, self.settings.s3_port):
            return False
        try:
            self.store().ensure_buckets()
        except Exception:  # not ready yet: asked again shortly
            return False
        return True

    # -- processes ---------------------------------------------------------------------------
    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        try:
            pid = int(self._pid_file(name).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if alive(pid) else None

    def running(self) -> dict[str, int]:
        found = {}
        for path in sorted(self.run_dir.glob("*.pid")) if self.run_dir.exists() else []:
            pid = self.pid(path.stem)
            if pid:
                found[path.stem] = pid
        return found

    def _spawn(self, service: Service) -> None:
        private_dir(self.run_dir)
        private_dir(self.log_dir)
        env = {**os.environ, **self.environment(), **service.env}
        with os.fdopen(open_private_append(self.log_dir / f"{service.name}.log"), "ab") as log:
            process = subprocess.Popen(
                service.argv, cwd=service.cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, umask=UMASK,
            )
        write_private(self._pid_file(service.name), str(process.pid))

    def _wait(self, service: Service, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.pid(service.name) is None:
                raise StackError(f"{service.name} exited; see {self.log_dir / (service.name + '.log')}")
            if service.ready():
                return
            time.sleep(0.1)
        raise StackError(f"{service.name} was not ready in time; see {self.log_dir / (service.name + '.log')}")

    def up(self, only: list[str] | None = None) -> list[str]:
        """Starts every service (or those named) not yet running; returns the names it started."""
        deadline = time.monotonic() + self.settings.ready_timeout_s
        tighten(self.state)
        started = []
        for service in self.services():
            if only is not None and service.name not in only:
                continue
            if self.pid(service.name) is None:
                self._spawn(service)
                started.append(service.name)
            self._wait(service, deadline)
        return started

    def down(self, timeout: float = 10.0) -> list[str]:
        """Stops everything `up` started, the last started first."""
        order = [s.name for s in reversed(self.services())]
        names = sorted(self.running(), key=lambda n: order.index(n) if n in order else -1)
        self._terminate(names, timeout)
        return names

    def stop(self, name: str, timeout: float = 10.0) -> None:
        self._terminate([name], timeout)

    def _terminate(self, names: list[str], timeout: float) -> None:
        """SIGTERM to each service's process group, SIGKILL to whatever outlives the timeout."""
        pids = {name: pid for name in names if (pid := self.pid(name))}
        for pid in pids.values():
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for pid in pids.values():
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
        for name in names:
            self._pid_file(name).unlink(missing_ok=True)

    def start(self, name: str) -> None:
        service = next(s for s in self.services() if s.name == name)
        if self.pid(name) is None:
            self._spawn(service)
        self._wait(service, time.monotonic() + self.settings.ready_timeout_s)
