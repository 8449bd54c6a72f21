"""A step's presigned URLs name the store address that the gateway running it reaches: the internal
one for functions on the CPU gateway (faasd's bridge), the public one for a rented GPU node."""

from __future__ import annotations

import pytest

from gpu.nodes import Nodes, NodeState
from scheduler import steps
from scheduler.uploads import State, StepState
from storage.client import Store
from storage.settings import StorageSettings
from tests.gpu_support import Burst, burst, cpu_host, gpu_cert, gpu_host, gpu_token  # noqa: F401

# SeaweedFS listens on 127.0.0.1 alone: the same port on 127.0.0.2 is an address nothing answers on.
UNREACHABLE = "127.0.0.2"


def store_with(burst: Burst, public_endpoint: str = "", function_endpoint: str = "") -> Store:  # noqa: F811
    s = burst.store.settings
    return Store(StorageSettings(endpoint=s.endpoint, access_key=s.access_key, secret_key=s.secret_key,
                                 public_endpoint=public_endpoint, function_endpoint=function_endpoint))


def unreachable(burst: Burst) -> str:  # noqa: F811
    return burst.store.settings.endpoint.replace("127.0.0.1", UNREACHABLE)


@pytest.mark.parametrize("gateway", ["cpu", "gpu"])
def test_each_gateway_gets_urls_for_the_store_address_it_reaches(burst: Burst, gateway: str) -> None:  # noqa: F811
    uploads = [burst.upload() for _ in range(3)]  # probe ran with the test store; thumbnail waits
    if gateway == "gpu":
        burst.tick()
        burst.tick(60)
        [node] = Nodes(burst.redis).all()
        assert node.state == NodeState.READY
        expected = node.gateway_name
        # Only the public address works: URLs signed for the function address would fail on the node.
        store = store_with(burst, function_endpoint=unreachable(burst))
    else:
        burst.configure(vast_api_key="")
        expected = "cpu"
        store = store_with(burst, public_endpoint=unreachable(burst))
    burst.monkeypatch.setattr(steps, "store", lambda: store)
    burst.work()
    records = burst.records()
    for upload in uploads:
        step = records.steps(upload)["thumbnail"]
        assert (step.state, step.gateway) == (StepState.DONE, expected), step.reason
        assert records.get(upload).state == State.DONE
        assert store.exists(store.settings.artefacts_bucket, step.artefacts["thumbnail.jpg"])
