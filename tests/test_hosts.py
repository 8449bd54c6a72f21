"""Workers on more hosts (issue 19): a storage host and two worker hosts, each in a network namespace of its
own, joined over TLS with the storage host's join file; one worker host dies mid-batch and every upload
still ends `done`, once, with its results document."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError

from accounts.usage import PROCESSED, today
from bench import netns
from bench.hosts import Client, client
from embedded.joining import JoinFile
from embedded.settings import EmbeddedSettings
from scheduler import keys
from scheduler.uploads import FINAL_STEP_STATES, State, StepState, Uploads
from storage.layout import LEGACY_WORKSPACE, result_key

BATCH = 12
WORKERS_PER_HOST = 2
BATCH_WITHIN_S = 900.0

pytestmark = pytest.mark.skipif(netns.unavailable() is not None, reason=netns.unavailable() or "")


@pytest.fixture(scope="module")
def hosts(stack_settings: EmbeddedSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[netns.Network]:
    """A storage host (Redis, S3, index, stunnel) and worker hosts a and b: two workers and a functions host each."""
    with netns.network(tmp_path_factory.mktemp("hosts"), stack_settings.model_dir, ["a", "b"]) as net:
        net.start_storage()
        for name in ("a", "b"):
            # A dead host's jobs are taken back within seconds, not half a minute.
            net.start_workers(name, WORKERS_PER_HOST, MEDIALENS_SCHEDULER_HEARTBEAT_S="1")
        yield net


@pytest.fixture(scope="module")
def join(hosts: netns.Network) -> JoinFile:
    return JoinFile.load(hosts.hosts[netns.STORAGE].state / "join.json")


@pytest.fixture(scope="module")
def shared(hosts: netns.Network, join: JoinFile) -> Iterator[Client]:
    with client(join, hosts.ca_file("a")) as made:
        yield made


def test_the_shared_address_speaks_tls_and_asks_for_credentials(hosts: netns.Network, join: JoinFile) -> None:
    ca = str(hosts.ca_file("a"))
    plain = join.redis_url.replace("rediss://", "redis://")
    with pytest.raises(RedisConnectionError):
        Redis.from_url(plain, socket_timeout=5).ping()
    without_password = Redis.from_url(f"rediss://{join.redis_url.split('@')[1]}", ssl_ca_certs=ca, socket_timeout=5)
    with pytest.raises((AuthenticationError, RedisConnectionError)):
        without_password.set("medialens-test", "x")
    # A client that trusts only the public CAs refuses the shared certificate.
    with pytest.raises(RedisConnectionError):
        Redis.from_url(join.redis_url, ssl_ca_certs=ssl.get_default_verify_paths().cafile, socket_timeout=5).ping()
    assert Redis.from_url(join.redis_url, ssl_ca_certs=ca).ping()
    assert httpx.get(join.s3_endpoint + "/uploads", verify=ca).status_code == 403
    assert httpx.get(join.index_url + "/api/v2/heartbeat", verify=ca).status_code == 401
    # stunnel drops a plain request: it never reaches S3.
    with pytest.raises(httpx.TransportError):
        httpx.get(join.s3_endpoint.replace("https://", "http://") + "/uploads", timeout=5)


def test_a_worker_host_killed_mid_batch_loses_nothing(hosts: netns.Network, shared: Client) -> None:
    batch = shared.submit(BATCH, "killed")

    def both_hosts_ran_jobs() -> bool:
        return {"a", "b"} <= set(shared.hosts_that_ran(batch))

    deadline = time.monotonic() + BATCH_WITHIN_S
    while not both_hosts_ran_jobs():
        assert time.monotonic() < deadline, f"not both hosts ran jobs: {shared.hosts_that_ran(batch)}"
        time.sleep(0.5)
    left = shared.unfinished(batch)
    assert left, "the batch ended before a host could be killed mid-batch"
    before_kill = shared.hosts_that_ran(batch)
    killed = hosts.hosts["a"].kill()
    assert killed and not hosts.hosts["a"].pids(), "every process of host a is gone"

    shared.wait(batch, BATCH_WITHIN_S)
    records, store = Uploads(shared.redis), shared.context.store
    for upload_id in batch:
        upload = records.get(upload_id)
        assert upload.state == State.DONE, f"{upload.key} ended {upload.state.value}: {upload.reason}"
        steps = records.steps(upload_id)
        assert all(step.state in FINAL_STEP_STATES and step.state != StepState.FAILED for step in steps.values()), (
            f"{upload.key}: {({name: step.state.value for name, step in steps.items()})}")
        document = json.loads(store.get_bytes(store.settings.results_bucket, result_key(upload.key)))
        assert document["upload"]["id"] == upload_id and document["upload"]["state"] == "done", document["upload"]
    # Each upload was booked as processed once: no finish ran twice when host b took host a's work over.
    processed = shared.redis.hget(keys.usage_day(LEGACY_WORKSPACE, today()), PROCESSED)
    assert int(processed or 0) == BATCH
    after = shared.hosts_that_ran(batch)
    assert after.get("b", 0) > before_kill.get("b", 0), f"host b took the rest: {before_kill} -> {after}"
    assert set(after) <= {"a", "b"}, after


def test_a_join_file_that_is_not_tls_is_refused(join: JoinFile) -> None:
    with pytest.raises(ValueError, match="TLS"):
        JoinFile.from_dict({**join.to_dict(), "redis_url": join.redis_url.replace("rediss://", "redis://")})
    with pytest.raises(ValueError, match="HTTPS"):
        JoinFile.from_dict({**join.to_dict(), "s3_endpoint": join.s3_endpoint.replace("https://", "http://")})


def test_the_join_file_is_private(hosts: netns.Network) -> None:
    path: Path = hosts.hosts[netns.STORAGE].state / "join.json"
    assert path.stat().st_mode & 0o077 == 0
