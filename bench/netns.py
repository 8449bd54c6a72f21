"""Machines on one machine: network namespaces (iproute2, as root) for a storage host and worker hosts.

Each namespace has its own network stack, loopback included, so every host binds the stack's
default ports and reaches another only through a bridge: the storage host shares its Redis, S3 and
index on its bridge address over TLS (embedded/tunnel.py), and the worker hosts join with the join
file it writes, exactly as on separate machines. Only the disk and the cores are shared.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from embedded.joining import FILE as JOIN_FILE
from embedded.joining import JoinFile
from embedded.stack import PROJECT
from embedded.workerhost import CA_FILE

STORAGE = "storage"
# The storage host keeps state only: no workers and no functions host of its own.
STORAGE_SERVICES = ["redis", "seaweedfs", "index", "tunnel"]
START_TIMEOUT_S = 300.0


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs the tests as root)"
    for binary, package in (("ip", "iproute2"), ("stunnel", "stunnel4")):
        if shutil.which(binary, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
            return f"{binary} is missing: apt-get install {package} (python -m tests.system_packages)"
    return None


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Host:
    """One namespace on the bridge: its name, its address and its state directory."""

    netns: str
    address: str
    state: Path

    def argv(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *command]

    def pids(self) -> list[int]:
        found = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    def kill(self) -> list[int]:
        """SIGKILL to every process in the namespace: the machine is gone, nothing drains."""
        killed = self.pids()
        for pid in killed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        return killed


@dataclass
class Network:
    """A bridge in this namespace with the hosts on it; this process reaches them through the bridge."""

    workdir: Path
    model_dir: Path
    tag: str = field(default_factory=lambda: f"{random.randrange(16**4):04x}")
    subnet: str = field(default_factory=lambda: f"10.{random.randrange(100, 250)}.{random.randrange(1, 250)}")
    hosts: dict[str, Host] = field(default_factory=dict)

    @property
    def bridge(self) -> str:
        return f"mlbr{self.tag}"

    def create(self, names: list[str]) -> None:
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for number, name in enumerate(names, start=2):
            host = Host(f"ml{self.tag}-{name}", f"{self.subnet}.{number}", self.workdir / name)
            outside, inside = f"ml{self.tag}o{number}", f"ml{self.tag}i{number}"
            ip("netns", "add", host.netns)
            self.hosts[name] = host
            ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            ip("link", "set", outside, "master", self.bridge)
            ip("link", "set", outside, "up")
            ip("link", "set", inside, "netns", host.netns)
            ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", inside)
            ip("-n", host.netns, "link", "set", inside, "up")
            ip("-n", host.netns, "link", "set", "lo", "up")

    def destroy(self) -> None:
        for host in self.hosts.values():
            host.kill()
            subprocess.run(["ip", "netns", "del", host.netns], capture_output=True)
        # Deleting a namespace deletes its veth ends, and with them their twins on the bridge.
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)

    def environment(self, host: Host, **settings: str) -> dict[str, str]:
        embedded = {f"MEDIALENS_EMBEDDED_{name.upper()}": value for name, value in settings.items()}
        return {**os.environ, "PYTHONPATH": str(PROJECT), "MEDIALENS_EMBEDDED_STATE_DIR": str(host.state),
                "MEDIALENS_EMBEDDED_MODEL_DIR": str(self.model_dir), **embedded}

    def run(self, host: Host, command: list[str], env: dict[str, str]) -> None:
        done = subprocess.run(host.argv(sys.executable, "-m", "embedded", *command), cwd=PROJECT, env=env,
                              capture_output=True, text=True, timeout=START_TIMEOUT_S)
        if done.returncode != 0:
            raise RuntimeError(f"`embedded {' '.join(command)}` on {host.netns} failed:\n{done.stdout}\n{done.stderr}")

    def start_storage(self) -> JoinFile:
        host = self.hosts[STORAGE]
        self.run(host, ["up", *STORAGE_SERVICES], self.environment(host, share_address=host.address))
        return JoinFile.load(host.state / JOIN_FILE)

    def start_workers(self, name: str, workers: int, **extra: str) -> Host:
        """A worker host under its supervisor (`make worker`), joined with the storage host's join file."""
        host = self.hosts[name]
        env = self.environment(host, join_file=str(self.hosts[STORAGE].state / JOIN_FILE), host_name=name,
                               workers=str(workers))
        self.run(host, ["up"], env | extra)
        return host

    def ca_file(self, name: str) -> Path:
        return self.hosts[name].state / CA_FILE


@contextmanager
def network(workdir: Path, model_dir: Path, worker_hosts: list[str]) -> Iterator[Network]:
    """A storage host and the named worker hosts, all removed again on the way out, whatever happened."""
    made = Network(workdir, model_dir)
    try:
        made.create([STORAGE, *worker_hosts])
        yield made
    finally:
        made.destroy()
