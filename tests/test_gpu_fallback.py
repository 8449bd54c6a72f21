"""GPU burst failures fall back to the CPU: a node dying mid-batch, a wrong key, a Vast.ai outage, no key."""

from __future__ import annotations

import threading
import time

import pytest
from werkzeug.serving import make_server

from embedded.settings import free_port
from gpu.breaker import Breaker
from gpu.nodes import Nodes, NodeState
from gpu.settings import OFF_MESSAGE
from gpu.status import status
from scheduler.routing import route
from scheduler.uploads import State, StepState
from tests.conftest import make_account
from tests.gpu_support import (  # noqa: F401
    Burst,
    burst,
    cpu_host,
    gpu_cert,
    gpu_host,
    gpu_token,
    start_host,
)
from ui import cli
from ui.app import create_app


def test_a_node_that_dies_mid_batch_loses_no_step_and_runs_none_twice(
    burst: Burst, gpu_token: str  # noqa: F811
) -> None:
    doomed = start_host("gpu", token=gpu_token, password=gpu_token, store=burst.store.settings.endpoint,
                        cert=burst.cert)
    burst.vast.node_port = int(doomed.url.rsplit(":", 1)[1])
    uploads = [burst.upload() for _ in range(8)]
    burst.tick()
    burst.tick(60)
    [node] = Nodes(burst.redis).all()
    assert node.state == NodeState.READY and node.url == doomed.url
    nodes = Nodes(burst.redis)

    def kill_after_two_calls() -> None:
        deadline = time.monotonic() + 60
        while nodes.load(node.id).calls < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        doomed.kill()

    killer = threading.Thread(target=kill_after_two_calls)
    killer.start()
    burst.work()
    killer.join()

    records = burst.records()
    served = []
    for upload in uploads:
        assert records.get(upload).state == State.DONE
        step = records.steps(upload)["thumbnail"]
        assert step.state == StepState.DONE
        served.append(step.gateway)
        results = records.results(upload)
        assert sorted(results) == ["probe", "thumbnail"], "one result per step, none twice"
    assert served.count(node.gateway_name) >= 2 and "cpu" in served
    assert not Breaker(burst.redis).allows(node.gateway_name)
    assert route("thumbnail").name == "cpu"
    for _ in range(burst.settings.unhealthy_ticks):
        burst.tick(burst.settings.tick_s)
    assert Nodes(burst.redis).all() == [] and burst.vast.destroyed == [node.id]


def run_on_cpu(burst: Burst, count: int = 2) -> None:  # noqa: F811
    uploads = [burst.upload() for _ in range(count)]
    burst.tick()
    assert burst.vast.created == [] and route("thumbnail").name == "cpu"
    burst.work()
    for upload in uploads:
        step = burst.records().steps(upload)["thumbnail"]
        assert step.state == StepState.DONE and step.gateway == "cpu"


def test_a_wrong_key_is_a_clear_message_and_the_cpu_takes_the_steps(burst: Burst) -> None:  # noqa: F811
    burst.configure(vast_api_key="not-the-key")
    run_on_cpu(burst)
    shown = status(burst.redis, burst.settings, burst.clock())
    assert shown["problem"] and "rejected the API key" in shown["message"]


@pytest.mark.parametrize("outage", ["http-503", "connection-refused"])
def test_a_vast_outage_is_a_clear_message_and_the_cpu_takes_the_steps(
    burst: Burst, outage: str  # noqa: F811
) -> None:
    if outage == "http-503":
        burst.vast.outage = 503
    else:
        burst.configure(vast_url=f"http://127.0.0.1:{free_port()}")
    run_on_cpu(burst)
    shown = status(burst.redis, burst.settings, burst.clock())
    assert shown["problem"]
    assert "unavailable (HTTP 503)" in shown["message"] or "cannot reach Vast.ai" in shown["message"]


def test_without_a_key_everything_runs_on_the_cpu_and_the_api_and_cli_say_so(
    burst: Burst, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    burst.configure(vast_api_key="")
    run_on_cpu(burst, count=1)
    app = create_app(store=burst.store)
    key = make_account(burst.redis, operator=True).key
    shown = app.test_client().get("/api/v1/gpu", headers={"Authorization": f"Bearer {key}"}).get_json()
    assert shown["enabled"] is False and shown["message"] == OFF_MESSAGE
    assert app.test_client().get("/api/v1/gpu").status_code == 401
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        code = cli.main(["gpu", "status", "--api", url, "--api-key", key])
    finally:
        server.shutdown()
    assert code == 0
    assert "GPU burst off: no Vast.ai key" in capsys.readouterr().out
