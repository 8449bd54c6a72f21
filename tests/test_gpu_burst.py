"""GPU burst lifecycle: a heavy backlog rents a node, heavy steps run on it, the idle node is destroyed."""

from __future__ import annotations

import json

import pytest

from gpu.budget import Budget
from gpu.nodes import Nodes, NodeState
from gpu.status import status
from gpu.tls import encode
from scheduler.routing import route
from scheduler.uploads import State, StepState
from storage.client import public_endpoint
from storage.settings import StorageSettings
from tests.gpu_support import Burst, Host, burst, cpu_host, gpu_cert, gpu_host, gpu_token  # noqa: F401


def test_a_heavy_backlog_starts_a_node_that_runs_heavy_steps_and_is_destroyed_when_idle(
    burst: Burst, gpu_host: Host, gpu_token: str  # noqa: F811
) -> None:
    before = gpu_host.invocations("thumbnail")
    uploads = [burst.upload() for _ in range(3)]  # 3 x 100 s on one CPU worker: over the 150 s threshold

    burst.tick()
    assert len(burst.vast.created) == 1, "one node for the backlog"
    created = burst.vast.created[0]
    # The cheapest offer that meets the filters: 502 (0.28 USD/h, 24 GB); 503 has too little memory.
    assert created["offer"] == 502
    assert created["env"]["MEDIALENS_HOST_TOKEN"] == gpu_token
    # Its functions may use the store at the address its URLs are signed for, and nothing else.
    assert created["env"]["MEDIALENS_FN_ALLOWED_ORIGINS"] == public_endpoint(StorageSettings())
    # The node gets its TLS pair (the key, to the node alone); the record keeps the certificate to pin.
    assert created["env"]["MEDIALENS_HOST_TLS_CERT"] == encode(burst.cert.cert_pem)
    assert created["env"]["MEDIALENS_HOST_TLS_KEY"] == encode(burst.cert.key_pem)
    assert created["runtype"] == "args" and created["image"] == burst.settings.image
    [node] = Nodes(burst.redis).all()
    assert node.state == NodeState.STARTING
    assert node.cert == burst.cert.cert_pem and "PRIVATE KEY" not in json.dumps(node.to_dict())
    assert route("thumbnail").name == "cpu", "no heavy step goes to a node that is still loading"

    burst.tick(30)
    assert Nodes(burst.redis).all()[0].state == NodeState.STARTING
    burst.tick(30)
    [node] = Nodes(burst.redis).all()
    assert node.state == NodeState.READY and node.url == gpu_host.url and node.url.startswith("https://")
    assert route("thumbnail").name == node.gateway_name
    assert route("probe").name == "cpu", "light functions never leave the VPS"
    burst.tick(15)
    assert len(burst.vast.created) == 1, "never more nodes than max_nodes"

    burst.work()
    records = burst.records()
    for upload in uploads:
        assert records.get(upload).state == State.DONE
        done = records.steps(upload)
        assert done["thumbnail"].state == StepState.DONE and done["thumbnail"].gateway == node.gateway_name
        assert done["probe"].gateway == "cpu"
        assert "thumbnail" in records.results(upload)
    assert gpu_host.invocations("thumbnail") - before == 3

    shown = status(burst.redis, burst.settings, burst.clock())
    assert shown["enabled"] and shown["nodes"][0]["calls"] == 3 and shown["files_this_month"] == 3
    assert shown["cost_per_file"] == pytest.approx(shown["spend"]["month"] / 3, abs=1e-3)

    burst.tick(burst.settings.idle_s - 60)
    assert Nodes(burst.redis).all(), "not idle long enough yet"
    burst.tick(120)
    assert Nodes(burst.redis).all() == [] and burst.vast.destroyed == [node.id]
    assert burst.vast.live() == []
    booked = Budget(burst.redis, burst.settings).spend(burst.clock()).day
    assert booked == pytest.approx(burst.vast.charged(node.id), abs=1e-6)
    assert booked > 0
