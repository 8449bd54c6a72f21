"""A functions host (`python -m host`) in a process of its own, on a free port, for tests that call functions
through a gateway: the GPU burst's CPU and GPU hosts, search's embed function."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from embedded.settings import free_port
from gpu.tls import NodeCertificate, pinned_context

PROJECT = Path(__file__).resolve().parent.parent


@dataclass
class Host:
    """`python -m host` in its own process: a CPU gateway or a GPU node (over TLS)."""

    process: subprocess.Popen[bytes]
    url: str
    token: str
    password: str
    cert: NodeCertificate | None = None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def client(self) -> httpx.Client:
        return httpx.Client(verify=pinned_context(self.cert.cert_pem) if self.cert else True)

    def wait_ready(self, function: str, timeout: float = 120.0) -> None:
        """Returns once ``function`` has loaded its model (until then the host answers it 503)."""
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while time.monotonic() < deadline:
                found = client.get(f"{self.url}/system/function/{function}", auth=("admin", self.password),
                                   timeout=5).json()
                if found["annotations"]["medialens.ready"] == "true":
                    return
                assert "medialens.error" not in found["annotations"], found["annotations"]
                time.sleep(0.2)
        raise RuntimeError(f"{function} did not load its model in {timeout:.0f} s")

    def invocations(self, function: str) -> int:
        with self.client() as client:
            reply = client.get(f"{self.url}/system/function/{function}", auth=("admin", self.password), timeout=5)
        return int(reply.json()["invocationCount"])


def start_host(
    label: str, token: str, password: str = "", store: str = "", cert: NodeCertificate | None = None,
    functions: str = "probe,thumbnail",
) -> Host:
    """A host on a free port serving `functions` (comma-separated), which use the store at `store` (none
    when empty); with `cert` it serves HTTPS, as a node started by the manager does."""
    port = free_port()
    env = {**os.environ, "MEDIALENS_HOST_PORT": str(port), "MEDIALENS_HOST_LABEL": label,
           "MEDIALENS_HOST_TOKEN": token, "MEDIALENS_HOST_BASIC_AUTH_PASSWORD": password,
           "MEDIALENS_FN_ALLOWED_ORIGINS": store,
           "MEDIALENS_HOST_FUNCTIONS": functions, "PYTHONPATH": str(PROJECT),
           **(cert.environment() if cert else {})}
    process = subprocess.Popen([sys.executable, "-m", "host"], cwd=PROJECT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = Host(process, f"{'https' if cert else 'http'}://127.0.0.1:{port}", token, password, cert)
    deadline = time.monotonic() + 60
    with host.client() as client:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if client.get(f"{host.url}/healthz", timeout=1).status_code == 200:
                    return host
            except httpx.HTTPError:
                time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"functions host ({label}) did not start on port {port}")
