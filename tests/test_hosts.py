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
from minio.error import S3Error
from redis import Redis
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError

from accounts.usage import PROCESSED, today
from bench import netns
from bench.hosts import Client, client
from embedded.joining import JoinFile
from embedded.settings import EmbeddedSettings, on_free_ports
from embedded.stack import Stack
from embedded.workerhost import WorkerHost, open_stack
from scheduler import keys
from scheduler.uploads import FINAL_STEP_STATES, State, StepState, Uploads
from storage.layout import LEGACY_WORKSPACE, result_key

BATCH = 12
WORKERS_PER_HOST = 2
BATCH_WITHIN_S = 900.0

needs_namespaces = pytest.mark.skipif(netns.unavailable() is not None, reason=netns.unavailable() or "")


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


@needs_namespaces
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


@needs_namespaces
def test_worker_hosts_s3_keys_reach_objects_and_no_buckets(shared: Client, join: JoinFile) -> None:
    store = shared.context.store
    assert store.settings.access_key == join.s3_access_key
    store.put_bytes(store.settings.results_bucket, "hosts/written-by-a-worker.json", b"{}", "application/json")
    assert store.get_bytes(store.settings.results_bucket, "hosts/written-by-a-worker.json") == b"{}"
    with pytest.raises(S3Error) as refused:
        store.client.make_bucket("made-by-a-worker-host")
    assert refused.value.code == "AccessDenied"


@needs_namespaces
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


@needs_namespaces
def test_a_join_file_that_is_not_tls_is_refused(join: JoinFile) -> None:
    with pytest.raises(ValueError, match="TLS"):
        JoinFile.from_dict({**join.to_dict(), "redis_url": join.redis_url.replace("rediss://", "redis://")})
    with pytest.raises(ValueError, match="HTTPS"):
        JoinFile.from_dict({**join.to_dict(), "s3_endpoint": join.s3_endpoint.replace("https://", "http://")})


@needs_namespaces
def test_the_join_file_is_private(hosts: netns.Network) -> None:
    path: Path = hosts.hosts[netns.STORAGE].state / "join.json"
    assert path.stat().st_mode & 0o077 == 0


def test_a_sharing_stack_offers_tls_ports_and_sends_its_own_processes_to_the_index_server(
        stack_settings: EmbeddedSettings, tmp_path: Path) -> None:
    settings = on_free_ports(tmp_path / "first", stack_settings.model_dir)
    settings.share_address = "10.0.0.5"
    stack = Stack(settings)
    names = [service.name for service in stack.services()]
    assert {"index", "tunnel"} <= set(names) and names.index("tunnel") < names.index("functions")
    env = stack.environment()
    assert env["MEDIALENS_INDEX_SERVER_URL"] == settings.url(settings.index_port)
    join = JoinFile.load(stack.join_file)
    redis, s3, index = settings.shared_ports
    assert join.redis_url.startswith("rediss://") and join.redis_url.endswith(f"@10.0.0.5:{redis}/0")
    assert (join.s3_endpoint, join.index_url) == (f"https://10.0.0.5:{s3}", f"https://10.0.0.5:{index}")
    config = (stack.state / "tunnel" / "stunnel.conf").read_text()
    # Only TLS on the shared address; what it leads to stays on loopback.
    assert f"accept = 10.0.0.5:{redis}" in config and f"connect = 127.0.0.1:{settings.redis_port}" in config
    assert settings.host == "127.0.0.1"


def test_a_worker_host_runs_workers_and_a_functions_host_against_the_join_file(
        stack_settings: EmbeddedSettings, tmp_path: Path) -> None:
    first = on_free_ports(tmp_path / "first", stack_settings.model_dir)
    first.share_address = "10.0.0.5"
    sharing = Stack(first)
    sharing.services()
    settings = EmbeddedSettings(state_dir=tmp_path / "second", join_file=str(sharing.join_file), workers=3,
                                host_name="second")
    host = open_stack(settings)
    assert isinstance(host, WorkerHost)
    assert [service.name for service in host.services()] == ["functions", "worker-1", "worker-2", "worker-3"]
    env = host.environment()
    join = JoinFile.load(sharing.join_file)
    assert env["MEDIALENS_SCHEDULER_REDIS_URL"] == join.redis_url
    assert env["MEDIALENS_S3_ENDPOINT"] == env["MEDIALENS_FN_ALLOWED_ORIGINS"] == join.s3_endpoint
    assert env["MEDIALENS_INDEX_SERVER_URL"] == join.index_url
    assert Path(env["SSL_CERT_FILE"]).read_text() == join.ca_pem
    assert env["MEDIALENS_SCHEDULER_WORKER_PREFIX"] == "second"
    assert env["MEDIALENS_HOST_HOST"] == "127.0.0.1", "the worker host's functions host stays on its loopback"
    # `make status` and `make down` there need no JOIN: the state directory remembers it.
    assert isinstance(open_stack(EmbeddedSettings(state_dir=tmp_path / "second")), WorkerHost)
