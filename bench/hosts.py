"""Workers on more hosts: throughput with one worker host and with two, and what each upload costs Redis.

Both layouts run on this one machine in network namespaces (bench/netns.py), with the same number
of workers in all, so the difference is the cost of distribution (two functions hosts, each loading
its own models; every call over TLS), not a speed-up. Redis's cost per upload is read from INFO
(commandstats, network bytes, memory) around the measured batch, less what the bench's own polling
asked of it. Needs root (namespaces) and stunnel4.
"""

from __future__ import annotations

import io
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job

from embedded.joining import JoinFile
from embedded.settings import EmbeddedSettings
from scheduler import steps
from scheduler.context import Context, using
from scheduler.settings import SchedulerSettings
from scheduler.uploads import State, Upload, Uploads
from storage.client import Store
from storage.layout import LEGACY_WORKSPACE, upload_key
from storage.settings import StorageSettings

from . import netns
from .netns import Network

WARM_UP = 4
MEASURED = 24
WORKERS = 2  # in all, however many hosts share them
POLL_S = 1.0
BATCH_TIMEOUT_S = 900.0
DAY_S = 24 * 3600


def image(number: int) -> bytes:
    """A small JPEG of its own colour with its number written on it."""
    picture = Image.new("RGB", (320, 240), (40 + 17 * number % 200, 90, 200 - 13 * number % 150))
    ImageDraw.Draw(picture).text((60, 100), f"HOST TEST {number}", fill=(255, 255, 255))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG")
    return buffer.getvalue()


def poll(done: Callable[[], bool], timeout: float, what: str) -> int:
    """Polls until ``done``; returns how many rounds that took (each one costs Redis commands the bench
    subtracts)."""
    deadline, rounds = time.monotonic() + timeout, 0
    while not done():
        rounds += 1
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {timeout:.0f} s")
        time.sleep(POLL_S)
    return rounds


@dataclass
class Client:
    """This process's view of the shared storage: what a worker host sees, through the same TLS tunnel."""

    context: Context

    @property
    def redis(self) -> Redis:
        return self.context.redis

    def submit(self, count: int, label: str) -> list[str]:
        """Puts ``count`` images into the uploads bucket and starts each one's pipeline; their upload ids."""
        store, records = self.context.store, Uploads(self.redis)
        made = []
        for number in range(count):
            data = image(number)
            key = upload_key(LEGACY_WORKSPACE, f"hosts/{label}-{number}-{uuid.uuid4().hex[:6]}.jpg")
            etag = store.put_bytes(store.settings.uploads_bucket, key, data, "image/jpeg")
            upload = Upload(id=uuid.uuid4().hex[:20], bucket=store.settings.uploads_bucket, key=key, etag=etag,
                            size=len(data), content_type="image/jpeg")
            records.create(upload)
            steps.start(upload.id, self.context.queue, records)
            made.append(upload.id)
        return made

    def unfinished(self, uploads: list[str]) -> list[str]:
        records = Uploads(self.redis)
        return [upload for upload in uploads if records.get(upload).state not in (State.DONE, State.FAILED)]

    def wait(self, uploads: list[str], timeout: float = BATCH_TIMEOUT_S) -> int:
        """Waits until every upload has settled; returns how many rounds of polling that took."""
        return poll(lambda: not self.unfinished(uploads), timeout, "uploads not settled")

    def jobs(self, uploads: list[str], step: str) -> list[Job]:
        found = []
        for upload in uploads:
            try:
                found.append(Job.fetch(steps.job_id(upload, step), connection=self.redis))
            except NoSuchJobError:
                continue
        return found

    def wait_indexed(self, uploads: list[str], timeout: float = BATCH_TIMEOUT_S) -> int:
        """Waits until each upload's search indexing (queued once it is done) has ended; rounds of polling."""
        return poll(lambda: len([job for job in self.jobs(uploads, steps.INDEX) if job.ended_at]) >= len(uploads),
                    timeout, "uploads not indexed")

    def seconds(self, uploads: list[str], step: str) -> list[float]:
        """How long each upload's job of ``step`` ran, in seconds."""
        return [(job.ended_at - job.started_at).total_seconds() for job in self.jobs(uploads, step)
                if job.started_at and job.ended_at]

    def hosts_that_ran(self, uploads: list[str]) -> dict[str, int]:
        """Jobs per worker host, read from each step job's worker name (``<host>-<random>``)."""
        counted: dict[str, int] = {}
        records = Uploads(self.redis)
        for upload in uploads:
            for name in records.steps(upload):
                try:
                    worker = Job.fetch(steps.job_id(upload, name), connection=self.redis).worker_name
                except NoSuchJobError:
                    continue
                if worker:
                    host = worker.split("-", 1)[0]
                    counted[host] = counted.get(host, 0) + 1
        return counted


@contextmanager
def client(join: JoinFile, ca_file: Path) -> Iterator[Client]:
    """A scheduler context on the shared Redis and S3; SSL_CERT_FILE makes the S3 client trust the CA."""
    previous = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(ca_file)
    try:
        redis = Redis.from_url(join.redis_url, ssl_ca_certs=str(ca_file))
        store = Store(StorageSettings(endpoint=join.s3_endpoint, access_key=join.s3_access_key,
                                      secret_key=join.s3_secret_key))
        with using(Context(SchedulerSettings(redis_url=join.redis_url), redis, store)) as context:
            yield Client(context)
    finally:
        if previous is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = previous


def redis_counters(redis: Redis) -> dict[str, float]:
    """Commands (INFO itself left out), network bytes and memory, as Redis counts them."""
    stats = redis.info("commandstats")
    calls = sum(int(value["calls"]) for name, value in stats.items() if name != "cmdstat_info")
    info = redis.info()
    return {"commands": calls, "net_input_bytes": info["total_net_input_bytes"],
            "net_output_bytes": info["total_net_output_bytes"], "used_memory": info["used_memory"]}


def poll_cost(redis: Redis, one_round: Callable[[], object]) -> dict[str, float]:
    """What one round of the bench's own polling asks of Redis (idle workers add a little meanwhile)."""
    before = redis_counters(redis)
    one_round()
    after = redis_counters(redis)
    return {name: after[name] - before[name] for name in ("commands", "net_input_bytes", "net_output_bytes")}


def job_retention(measured: dict[str, Any]) -> str:
    """How long the measured stack kept RQ's finished jobs (MEDIALENS_SCHEDULER_RESULT_TTL_S); a run from
    before that was recorded kept them a day."""
    seconds = int(measured.get("result_ttl_s", DAY_S))
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def memory_by_kind(redis: Redis, uploads: list[str]) -> dict[str, float]:
    """Redis memory per upload held by its RQ jobs (gone after MEDIALENS_SCHEDULER_RESULT_TTL_S) and by
    its records and results (kept until the upload is deleted): every key naming the upload's id."""
    held = {"rq_jobs": 0, "records": 0}
    for upload in uploads:
        for key in redis.scan_iter(match=f"*{upload}*", count=1000):
            kind = "rq_jobs" if key.startswith(b"rq:") else "records"
            held[kind] += int(redis.memory_usage(key, samples=0) or 0)
    return {kind: total / len(uploads) for kind, total in held.items()}


def measure(hosts: int, workdir: Path, model_dir: Path) -> dict[str, Any]:
    names = [f"host{n}" for n in range(1, hosts + 1)]
    with netns.network(workdir, model_dir, names) as net:
        join = net.start_storage()
        for name in names:
            net.start_workers(name, WORKERS // hosts)
        with client(join, storage_ca(net)) as shared:
            shared.wait(shared.submit(WARM_UP, "warm-up"))
            before = redis_counters(shared.redis)
            started = time.perf_counter()
            batch = shared.submit(MEASURED, "measured")
            rounds = shared.wait(batch)
            elapsed = time.perf_counter() - started
            index_rounds = shared.wait_indexed(batch)
            after = redis_counters(shared.redis)
            polling = poll_cost(shared.redis, lambda: shared.unfinished(batch))
            index_polling = poll_cost(shared.redis, lambda: shared.jobs(batch, steps.INDEX))
            index_s = shared.seconds(batch, steps.INDEX)
            failed = [u for u in batch if Uploads(shared.redis).get(u).state != State.DONE]
            ran = shared.hosts_that_ran(batch)
            memory = memory_by_kind(shared.redis, batch)
    per_upload = {
        name: (after[name] - before[name] - rounds * polling[name] - index_rounds * index_polling[name]) / MEASURED
        for name in ("commands", "net_input_bytes", "net_output_bytes")
    }
    return {
        "worker_hosts": hosts,
        "workers": WORKERS,
        "uploads": MEASURED,
        "failed": len(failed),
        "seconds": elapsed,
        "uploads_per_hour": MEASURED / elapsed * 3600,
        # Other work on this machine's cores moves the throughput more than the layout does: said with it.
        "load_average_after": os.getloadavg()[0],
        "jobs_by_host": ran,
        # The index's writers take turns under one lock (search/index.py): its job time bounds the rate.
        "index_job_p50_s": statistics.median(index_s) if index_s else None,
        "redis_commands_per_upload": per_upload["commands"],
        "redis_in_bytes_per_upload": per_upload["net_input_bytes"],
        "redis_out_bytes_per_upload": per_upload["net_output_bytes"],
        "redis_memory_bytes_per_upload": (after["used_memory"] - before["used_memory"]) / MEASURED,
        "redis_job_bytes_per_upload": memory["rq_jobs"],
        "redis_record_bytes_per_upload": memory["records"],
        "result_ttl_s": SchedulerSettings().result_ttl_s,
    }


def storage_ca(net: Network) -> Path:
    return net.hosts[netns.STORAGE].state / "tunnel" / "tls" / "ca.pem"


def run(model_dir: Path | None = None) -> dict[str, Any]:
    why = netns.unavailable()
    if why:
        raise RuntimeError(f"the hosts benchmark cannot run: {why}")
    model_dir = model_dir or Path(EmbeddedSettings().model_dir).resolve()
    results: dict[str, Any] = {}
    for hosts in (1, 2):
        with tempfile.TemporaryDirectory(prefix="medialens-hosts-") as workdir:
            results[f"hosts_{hosts}"] = measure(hosts, Path(workdir), model_dir)
    return results


def markdown(results: dict[str, Any]) -> str:
    rows = [
        "| worker hosts | workers in all | images | failed | seconds | uploads/h | load average | jobs by host "
        "| index job p50 s | Redis commands per upload | Redis bytes in / out per upload | Redis memory per upload |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in ("hosts_1", "hosts_2"):
        r = results.get(key)
        if not r:
            continue
        jobs = ", ".join(f"{host} {count}" for host, count in sorted(r["jobs_by_host"].items()))
        rows.append(
            f"| {r['worker_hosts']} | {r['workers']} | {r['uploads']} | {r['failed']} | {r['seconds']:.1f} | "
            f"{r['uploads_per_hour']:.0f} | {r['load_average_after']:.1f} | {jobs} | {r['index_job_p50_s'] or 0:.2f} | "
            f"{r['redis_commands_per_upload']:.0f} | "
            f"{r['redis_in_bytes_per_upload'] / 1024:.1f} KiB / {r['redis_out_bytes_per_upload'] / 1024:.1f} KiB | "
            f"{r['redis_memory_bytes_per_upload'] / 1024:.1f} KiB ({r['redis_job_bytes_per_upload'] / 1024:.1f} KiB "
            f"jobs, {r['redis_record_bytes_per_upload'] / 1024:.1f} KiB records) |"
        )
    return "\n".join(rows) + (
        "\n\nBoth layouts run on this one machine (network namespaces: a storage host sharing Redis, S3 and the "
        "index over TLS through stunnel, and worker hosts joined with its join file), with the same workers in "
        "all: the difference is what distribution costs (a functions host per worker host, each with its own "
        "models, and TLS on every Redis and S3 call), not a speed-up. Redis figures are INFO deltas around the "
        "measured batch, less the bench's own polling; bytes are Redis's own count (plaintext, before TLS); "
        "memory is what the batch leaves in Redis (used_memory), split by the keys that name an upload: its RQ jobs, "
        f"which expire {job_retention(results.get('hosts_1') or {})} later, and its records and step results, kept "
        "until the upload is deleted."
    )
