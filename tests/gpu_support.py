"""Fixtures of the GPU burst tests: a fake Vast.ai API, functions hosts playing CPU and GPU, a clock."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from redis import Redis
from rq import Queue, SimpleWorker

from embedded.stack import Stack
from functions import catalog
from gpu import clock
from gpu import settings as gpu_settings
from gpu.clock import ManualClock
from gpu.manager import Manager
from gpu.settings import GpuSettings
from gpu.tls import NodeCertificate, node_certificate
from scheduler import plans, steps
from scheduler.context import Context, current, use, using
from scheduler.plans import PROBE
from scheduler.uploads import Upload, Uploads
from storage.client import Store
from tests.conftest import jpeg
from tests.fakes.vast_server import FakeVast
from tests.host_support import Host, start_host

HOST_FUNCTIONS = "probe,thumbnail"
KEY = "good-key"


@pytest.fixture(scope="session")
def cpu_host(store: Store) -> Iterator[Host]:
    host = start_host("cpu", token="cpu-token", password="cpu-secret", store=store.settings.endpoint,
                      functions=HOST_FUNCTIONS)
    yield host
    host.kill()


@pytest.fixture(scope="session")
def gpu_token() -> str:
    return secrets.token_urlsafe(16)


@pytest.fixture(scope="session")
def gpu_cert() -> NodeCertificate:
    """The TLS pair of the tests' nodes: the manager hands it to each node it starts."""
    return node_certificate()


@pytest.fixture(scope="session")
def gpu_host(gpu_token: str, gpu_cert: NodeCertificate, store: Store) -> Iterator[Host]:
    """The GPU node of most tests; the test that kills a node starts its own."""
    host = start_host("gpu", token=gpu_token, password=gpu_token, store=store.settings.endpoint, cert=gpu_cert,
                      functions=HOST_FUNCTIONS)
    yield host
    if host.process.poll() is None:
        host.kill()


@dataclass
class Burst:
    """One GPU burst setup: clock, fake Vast.ai, manager and the scheduler pointed at test Redis."""

    clock: ManualClock
    vast: FakeVast
    redis: Redis
    store: Store
    settings: GpuSettings
    manager: Manager
    monkeypatch: pytest.MonkeyPatch
    cert: NodeCertificate

    @property
    def queue(self) -> Queue:
        return current().queue

    def configure(self, **overrides: Any) -> Manager:
        """New GPU settings (e.g. caps, key, URL) and a manager that reads them (in a new context)."""
        for name, value in overrides.items():
            self.monkeypatch.setenv(f"MEDIALENS_GPU_{name.upper()}", str(value))
        use(Context.from_environment(store=self.store))
        self.settings = gpu_settings.settings()
        # The test store is plain HTTP on loopback, which real nodes are refused (tests of the check
        # are in test_gpu_tls.py); each node gets the pair the tests' GPU hosts already serve.
        self.manager = Manager(self.redis, self.settings, queue=self.queue, certificates=lambda: self.cert,
                               store_check=lambda: None)
        return self.manager

    def tick(self, seconds: float = 0.0) -> None:
        self.clock.advance(seconds)
        self.manager.tick()

    def upload(self) -> str:
        """An image upload whose probe has run (on the CPU): its heavy thumbnail step waits in the queue."""
        key = f"gpu-tests/{uuid.uuid4().hex}.jpg"
        data = jpeg()
        etag = self.store.put_bytes(self.store.settings.uploads_bucket, key, data, "image/jpeg")
        record = Upload(id=uuid.uuid4().hex[:20], bucket=self.store.settings.uploads_bucket, key=key,
                        etag=etag, size=len(data), content_type="image/jpeg")
        records = Uploads(self.redis)
        records.create(record)
        records.plan_steps(record.id, [PROBE.name])
        steps.run_step(record.id, PROBE.to_dict())
        return record.id

    def work(self) -> None:
        """Runs every queued step in this process, as an RQ worker would."""
        SimpleWorker([self.queue], connection=self.redis).work(burst=True, logging_level="WARNING")

    def records(self) -> Uploads:
        return Uploads(self.redis)


@pytest.fixture
def burst(
    redis_db: Redis, redis_server: Stack, store: Store, cpu_host: Host, gpu_host: Host, gpu_token: str,
    gpu_cert: NodeCertificate, monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Burst]:
    env = {
        "MEDIALENS_SCHEDULER_REDIS_URL": redis_server.redis_url(15),
        "MEDIALENS_SCHEDULER_QUEUE": "gpu-tests",
        "MEDIALENS_SCHEDULER_GATEWAYS": f'{{"cpu": "{cpu_host.url}"}}',
        "MEDIALENS_SCHEDULER_GATEWAY_PASSWORD": cpu_host.password,
        "MEDIALENS_SCHEDULER_GATEWAY_TOKEN": cpu_host.token,
        "MEDIALENS_SCHEDULER_RETRY_BACKOFF_S": "0.05",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # thumbnail stands in for the heavy analyzers: it is what the GPU host of the tests serves, so
    # the image plan here is probe -> thumbnail alone.
    thumbnail = catalog.spec("thumbnail")
    labels = {**thumbnail.labels, catalog.GPU_LABEL: "true"}
    monkeypatch.setitem(catalog.catalog(), "thumbnail", replace(thumbnail, labels=labels))
    monkeypatch.setattr(plans, "IMAGE_ANALYZERS", ())
    fake_clock = ManualClock()
    with FakeVast(fake_clock, api_key=KEY, boot_s=60) as vast, clock.simulated(fake_clock), \
            using(Context.from_environment(store=store)):
        vast.node_port = int(gpu_host.url.rsplit(":", 1)[1])
        made = Burst(fake_clock, vast, redis_db, store, GpuSettings(), None, monkeypatch, gpu_cert)  # type: ignore[arg-type]
        made.configure(vast_api_key=KEY, vast_url=vast.url, vast_retries=1, node_token=gpu_token,
                       functions=HOST_FUNCTIONS, typical_cpu_s='{"thumbnail": 100}', cpu_workers=1,
                       backlog_threshold_s=150, idle_s=300, tick_s=15, max_dph=0.5, min_gpu_ram_gb=16)
        yield made
