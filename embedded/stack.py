"""Starts, watches and stops every process of the embedded stack.

Each service runs detached, with its pid file under <state>/run and its log under <state>/logs,
so `up` can tell what already runs and `down` stops exactly what `up` started. `up` hands the
services to the supervisor (embedded/supervisor.py), which starts them and restarts any that dies;
`up(only=...)` without a supervisor starts a few services directly, as the tests' fixtures do.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import quote

import httpx
from redis import Redis

from functions.common import processes
from gpu.settings import GpuSettings
from scheduler.redis_connection import connect
from storage.client import Store
from storage.credentials import S3Credentials, SeaweedCredentials
from storage.settings import StorageSettings

from . import redis_server, seaweedfs, tunnel
from .joining import FILE as JOIN_FILE
from .joining import JoinFile
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
    # An RQ worker: `down` lets it finish its job (warm shutdown) before anything else stops.
    worker: bool = False
    # A store the others connect to as they start: they start once it answers (the supervisor's first start).
    # The services that answer callers start next, at once, their imports side by side, and are waited for
    # together.
    foundation: bool = False
    # Answers no caller (a worker, the bridge): started last, once the services that answer do, so its imports
    # do not slow theirs; meanwhile uploads wait in the store and jobs in Redis.
    background: bool = False


class StackError(RuntimeError):
    pass


SUPERVISOR = "supervisor"
WORKER_HOSTS = "medialens-worker-hosts"  # the S3 identity of worker hosts
STOP_TIMEOUT_S = 10.0
LISTENING = "0A"  # a socket's state in /proc/net/tcp


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def listens(pid: int | None, port: int) -> bool:
    """Whether the process itself holds a socket listening on the port, as Linux's /proc tells: where
    processes share a port, one of them answering it says nothing of the others."""
    if pid is None:
        return False
    held = set()
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
        # Its sockets' table, of its own network namespace.
        tables = [Path(f"/proc/{pid}/net/{table}").read_text() for table in ("tcp", "tcp6")]
    except OSError:  # it ended
        return False
    for descriptor in descriptors:
        with contextlib.suppress(OSError):  # closed meanwhile
            held.add(os.readlink(f"/proc/{pid}/fd/{descriptor}"))
    for table in tables:
        for line in table.splitlines()[1:]:
            _, local, _, state, *_, inode = line.split()[:10]
            if state == LISTENING and int(local.rsplit(":", 1)[1], 16) == port and f"socket:[{inode}]" in held:
                return True
    return False


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    return check


# glibc's malloc gives each thread that allocates beside another an arena of its own, up to 8 a core, and each
# arena keeps what its calls freed: two hold about 300 MiB less in the functions host after a batch, at the same
# speed (measured, issue 17). The image's template and the GPU node's image set the same.
MALLOC_ARENAS = "2"


def functions_host(settings: EmbeddedSettings) -> Service:
    """The gateway: every function in one process (host/)."""
    return Service("functions", [sys.executable, "-m", "host"],
                   http_ok(settings.url(settings.gateway_port) + "/healthz"),
                   env={"MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", MALLOC_ARENAS)})


def workers(count: int) -> list[Service]:
    """The RQ workers, a process each."""
    return [Service(f"worker-{n}", [sys.executable, "-m", "scheduler.worker"], lambda: True, worker=True,
                    background=True) for n in range(1, count + 1)]


def alive(pid: int) -> bool:
    """True while the process runs; a zombie is dead: reaped here when it is our child, and
    recognised by its state when it is not (an orphan whose init does not reap, as in a container)."""
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
    try:
        return processes.stat_fields(pid)[0] != b"Z"
    except (OSError, IndexError):
        return True


def terminate(groups: list[tuple[int, Callable[[], bool]]], timeout: float) -> list[int]:
    """SIGTERM to each process group, SIGKILL to whatever outlives the timeout; each group's
    leader comes with the test of whether it still runs. Returns the leaders it had to kill."""
    for pid, _ in groups:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    killed = []
    for pid, running in groups:
        while running() and time.monotonic() < deadline:
            time.sleep(0.05)
        if running():
            killed.append(pid)
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return killed


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
            # Workspace credentials are identities of this SeaweedFS (storage/credentials.py).
            "MEDIALENS_S3_SEAWEED_MASTER": f"{s.host}:{s.master_port}",
            "MEDIALENS_S3_SEAWEED_CONFIG_DIR": str(self.seaweed_dir),
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
        } | self._index_environment()

    @property
    def sharing(self) -> bool:
        return bool(self.settings.share_address)

    def _index_environment(self) -> dict[str, str]:
        """Every process goes through the index server (search/server.py), which alone holds Chroma. An
        embedded Chroma in each process keeps the whole index's graphs in that process's memory: four
        workers and the web app grew by the index's size each, and worker hosts need the
        server anyway."""
        s = self.settings
        return {
            "MEDIALENS_INDEX_SERVER_URL": s.url(s.index_port),
            "MEDIALENS_INDEX_TOKEN": self.secrets.index_token,
            "MEDIALENS_INDEX_SERVE_HOST": s.host,
            "MEDIALENS_INDEX_SERVE_PORT": str(s.index_port),
            "MEDIALENS_INDEX_CHROMA_PORT": str(s.index_port + 1),
        }

    @property
    def join_file(self) -> Path:
        return self.state / JOIN_FILE

    def share(self) -> list[Service]:
        """The services that offer this stack's storage to worker hosts, and the join file that tells
        them how to reach it (written afresh each time: the address or a secret may have changed)."""
        s = self.settings
        directory = private_dir(self.state / "tunnel")
        ca_pem = tunnel.issue(directory / tunnel.TLS_DIR, s.share_address)
        config = tunnel.write_config(directory, s)
        JoinFile.sharing(s.share_address, s.shared_ports, self.secrets.redis_password,
                         self.secrets.worker_s3_access_key, self.secrets.worker_s3_secret_key,
                         self.secrets.index_token, ca_pem).save(self.join_file)
        redis_port = s.shared_ports[0]
        return [
            Service("tunnel", tunnel.command(config), lambda: port_open(s.share_address, redis_port)),
        ]

    @property
    def seaweed_dir(self) -> Path:
        """SeaweedFS's data and its security.toml; it runs there."""
        return self.state / "seaweedfs"

    def redis_url(self, db: int = 0) -> str:
        """How every client reaches the stack's Redis, password included."""
        s = self.settings
        return f"redis://:{quote(self.secrets.redis_password, safe='')}@{s.host}:{s.redis_port}/{db}"

    def redis(self, db: int = 0) -> Redis:
        return connect(self.redis_url(db))

    def services(self) -> list[Service]:
        s = self.settings
        python = sys.executable
        redis_dir = private_dir(self.state / "redis")
        seaweed_dir = private_dir(self.seaweed_dir)
        seaweedfs.write_security(
            seaweed_dir, self.secrets.seaweed_volume_jwt_key, self.secrets.seaweed_filer_jwt_key, s.host
        )
        redis_config = redis_server.write_config(redis_dir, self.secrets.redis_password)
        # In the order they start: the stores, then what answers callers, then the rest.
        return [
            Service("redis", redis_server.server_command(s, redis_dir, redis_config),
                    lambda: port_open(s.host, s.redis_port), foundation=True),
            Service("seaweedfs", seaweedfs.mini_command(s, seaweed_dir), self._store_ready,
                    env={**seaweedfs.credentials_env(self.secrets.s3_access_key, self.secrets.s3_secret_key),
                         **seaweedfs.runtime_env()},
                    cwd=seaweed_dir, foundation=True),
            Service("index", [python, "-m", "search.server"], lambda: port_open(s.host, s.index_port)),
            *(self.share() if self.sharing else []),
            functions_host(s),
            Service("intake", [python, "-m", "scheduler.intake"], http_ok(s.url(s.intake_port) + "/healthz")),
            *self.web_apps(),
            *workers(s.workers),
            # The GPU manager rents paid nodes: it runs only where a Vast.ai key is configured.
            *([Service("gpu-manager", [python, "-m", "gpu.manager"], lambda: True, background=True)]
              if GpuSettings().enabled else []),
            Service("bridge", [python, "-m", "embedded.bridge"], lambda: True, background=True),
        ]

    def web_apps(self) -> list[Service]:
        """The web app's processes: "ui", then "ui-2" and on, sharing its port when there are more."""
        s = self.settings
        shared = s.ui_processes > 1
        answers = http_ok(s.url(s.ui_port) + "/healthz")

        def ready(name: str) -> Callable[[], bool]:
            return (lambda: listens(self.pid(name), s.ui_port) and answers()) if shared else answers

        names = ["ui", *(f"ui-{n}" for n in range(2, s.ui_processes + 1))]
        return [Service(name, [sys.executable, "-m", "ui.app"], ready(name),
                        env={"MEDIALENS_UI_SHARE_PORT": "true"} if shared else {}) for name in names]

    def store(self) -> Store:
        env = self.environment()
        return Store(StorageSettings(
            endpoint=env["MEDIALENS_S3_ENDPOINT"],
            access_key=self.secrets.s3_access_key,
            secret_key=self.secrets.s3_secret_key,
            seaweed_master=env["MEDIALENS_S3_SEAWEED_MASTER"],
            seaweed_config_dir=self.seaweed_dir,
        ))

    def _store_ready(self) -> bool:
        if not port_open(self.settings.host, self.settings.s3_port):
            return False
        try:
            self.store().ensure_buckets()
            if self.sharing:
                self._grant_worker_hosts()
        except Exception:  # not ready yet: asked again shortly
            return False
        return True

    def _grant_worker_hosts(self) -> None:
        """Worker hosts get an S3 identity of their own: they read and write objects, and may not make
        or drop buckets or touch identities, which the admin keys (kept on this machine) can."""
        env = self.environment()
        store = SeaweedCredentials(StorageSettings(
            endpoint=env["MEDIALENS_S3_ENDPOINT"], access_key=self.secrets.s3_access_key,
            secret_key=self.secrets.s3_secret_key, seaweed_master=env["MEDIALENS_S3_SEAWEED_MASTER"],
            seaweed_config_dir=self.seaweed_dir))
        store.grant(WORKER_HOSTS, S3Credentials(self.secrets.worker_s3_access_key, self.secrets.worker_s3_secret_key),
                    ["Read", "Write", "List"])

    # -- processes ---------------------------------------------------------------------------
    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def hold_file(self, name: str) -> Path:
        """Its presence tells the supervisor that the service was stopped on purpose (`stop`)."""
        return self.run_dir / f"{name}.hold"

    def pid(self, name: str) -> int | None:
        return self._live_pid(self.pid_file(name))

    def runs(self, name: str) -> bool:
        return self.pid(name) is not None

    @staticmethod
    def _live_pid(path: Path) -> int | None:
        try:
            pid = int(path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if alive(pid) else None

    @property
    def supervisor_pid_file(self) -> Path:
        # Beside run/, not in it: `running` lists the services alone.
        return self.state / f"{SUPERVISOR}.pid"

    def supervisor_pid(self) -> int | None:
        return self._live_pid(self.supervisor_pid_file)

    def running(self) -> dict[str, int]:
        found = {}
        for path in sorted(self.run_dir.glob("*.pid")) if self.run_dir.exists() else []:
            pid = self.pid(path.stem)
            if pid:
                found[path.stem] = pid
        return found

    def missing(self) -> list[str]:
        """The services that do not run, in the order `up` starts them."""
        return [service.name for service in self.services() if self.pid(service.name) is None]

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None,
              cwd: Path = PROJECT) -> subprocess.Popen[bytes]:
        """Starts a detached process in its own process group, logging to logs/<name>.log."""
        private_dir(self.run_dir)
        private_dir(self.log_dir)
        with os.fdopen(open_private_append(self.log_dir / f"{name}.log"), "ab") as log:
            return subprocess.Popen(
                argv, cwd=cwd, env={**os.environ, **self.environment(), **(env or {})}, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, umask=UMASK,
            )

    def start_service(self, service: Service) -> subprocess.Popen[bytes]:
        process = self.spawn(service.name, service.argv, service.env, service.cwd)
        write_private(self.pid_file(service.name), str(process.pid))
        return process

    def wait_ready(self, service: Service, deadline: float, running: Callable[[], bool]) -> None:
        """Returns once the service answers; raises when `running` turns false or time runs out."""
        log = self.log_dir / f"{service.name}.log"
        while time.monotonic() < deadline:
            if not running():
                raise StackError(f"{service.name} exited; see {log}")
            if service.ready():
                return
            time.sleep(0.1)
        raise StackError(f"{service.name} was not ready in time; see {log}")

    def up(self, only: list[str] | None = None) -> list[str]:
        """Starts every service (or those named) not yet running and returns their names; everything,
        and anything while a supervisor runs, goes through the supervisor."""
        deadline = time.monotonic() + self.settings.ready_timeout_s
        tighten(self.state)
        wanted = [s for s in self.services() if only is None or s.name in only]
        missing = [s.name for s in wanted if self.pid(s.name) is None]
        for service in wanted:
            self.hold_file(service.name).unlink(missing_ok=True)
        if only is None or self.supervisor_pid():
            self._supervise(wanted, deadline)
            return missing
        for service in wanted:
            if self.pid(service.name) is None:
                self.start_service(service)
            self.wait_ready(service, deadline, partial(self.runs, service.name))
        return missing

    def _supervise(self, services: list[Service], deadline: float) -> None:
        """Has the supervisor start what is missing now (launching it if none runs) and waits for
        every service to answer."""
        if (pid := self.supervisor_pid()) is not None:
            # Restart anything dead now, not after its backoff.
            os.kill(pid, signal.SIGHUP)
        else:
            launched = self.spawn(SUPERVISOR, [sys.executable, "-m", "embedded.supervisor"],
                                  self.settings.as_environment() | {
                                      "MEDIALENS_EMBEDDED_STATE_DIR": str(self.state),
                                      "MEDIALENS_EMBEDDED_MODEL_DIR": str(PROJECT / self.settings.model_dir),
                                  })
            # A supervisor that finds another one running leaves at once: that one serves.
            while self.supervisor_pid() is None:
                if launched.poll() is not None and self.supervisor_pid() is None:
                    raise StackError(f"the supervisor exited; see {self.log_dir / (SUPERVISOR + '.log')}")
                if time.monotonic() > deadline:
                    raise StackError("the supervisor did not start in time")
                time.sleep(0.05)
        for service in services:
            self._wait_supervised(service, deadline)

    def _wait_supervised(self, service: Service, deadline: float) -> None:
        # A service may die and come back meanwhile: only a dead supervisor ends the wait early.
        def ready() -> bool:
            return self.runs(service.name) and service.ready()

        self.wait_ready(Service(service.name, service.argv, ready), deadline,
                        lambda: self.supervisor_pid() is not None)

    def down(self, timeout: float = STOP_TIMEOUT_S) -> list[str]:
        """Stops everything `up` started, the last started first; a supervisor drains the workers."""
        order = [s.name for s in reversed(self.services())]

        def last_started_first(names: Iterable[str]) -> list[str]:
            return sorted(names, key=lambda n: order.index(n) if n in order else -1)

        names = last_started_first(self.running())
        if (pid := self.supervisor_pid()) is not None:
            terminate([(pid, partial(alive, pid))], self.settings.drain_timeout_s + timeout * (len(order) + 1))
            self.supervisor_pid_file.unlink(missing_ok=True)
        # Whatever no supervisor stopped: services of an older install, or started by `up(only=...)`.
        self._terminate(last_started_first(self.running()), timeout)
        return names

    def stop(self, name: str, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stops one service and keeps it stopped (the supervisor leaves it) until `start`."""
        private_dir(self.run_dir)
        write_private(self.hold_file(name), "")
        self._terminate([name], timeout)

    def _terminate(self, names: list[str], timeout: float) -> None:
        pids = {name: pid for name in names if (pid := self.pid(name))}
        terminate([(pid, partial(alive, pid)) for pid in pids.values()], timeout)
        for name in names:
            self.pid_file(name).unlink(missing_ok=True)

    def start(self, name: str) -> None:
        self.up(only=[name])
