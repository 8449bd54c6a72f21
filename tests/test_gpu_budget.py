"""GPU budget: a cap too small for a node starts none; at the cap a running node is stopped in time."""

from __future__ import annotations

from gpu.budget import Budget
from gpu.nodes import Nodes, NodeState
from gpu.status import status
from scheduler.routing import route
from scheduler.uploads import StepState
from tests.gpu_support import Burst, burst, cpu_host, gpu_cert, gpu_host, gpu_token  # noqa: F401


def test_a_cap_too_small_for_a_node_starts_none_and_heavy_steps_run_on_the_cpu(
    burst: Burst,  # noqa: F811
) -> None:
    # 0.28 USD/h over a worst-case boot (900 s) and idle time (300 s) alone costs about 0.10.
    burst.configure(daily_cap=0.05)
    uploads = [burst.upload() for _ in range(3)]
    burst.tick()
    assert burst.vast.created == []
    shown = status(burst.redis, burst.settings, burst.clock())
    assert shown["problem"] and "budget" in shown["message"]
    assert route("thumbnail").name == "cpu"
    burst.work()
    for upload in uploads:
        assert burst.records().steps(upload)["thumbnail"].gateway == "cpu"
        assert burst.records().steps(upload)["thumbnail"].state == StepState.DONE


def test_at_the_cap_a_running_node_is_stopped_and_spend_never_exceeds_it(
    burst: Burst,  # noqa: F811
) -> None:
    cap = 0.30
    burst.configure(daily_cap=cap, reconcile_s=300)
    [burst.upload() for _ in range(3)]
    budget = Budget(burst.redis, burst.settings)
    burst.tick()
    burst.tick(60)
    [node] = Nodes(burst.redis).all()
    assert node.state == NodeState.READY
    # A long heavy call keeps the node busy (and never idle) until the budget stops it.
    Nodes(burst.redis).begin(node.id)
    # The account bills a little more than price x time (e.g. storage): reconciliation must catch it.
    burst.vast.extra_charges[node.id] = 0.01
    ticks = 0
    while Nodes(burst.redis).all():
        burst.tick(burst.settings.tick_s)
        ticks += 1
        assert budget.spend(burst.clock()).day <= cap
        assert burst.vast.charged(node.id) <= cap, "the account's own figure stays under the cap too"
        assert ticks < 400, "the node was never stopped"
    assert burst.vast.destroyed == [node.id]
    booked = budget.spend(burst.clock()).day
    assert booked >= burst.vast.charged(node.id) - 1e-6, "booked spend includes what the account charged"
    assert booked <= cap
    # With the budget spent, a new backlog starts nothing.
    burst.tick(burst.settings.tick_s)
    assert len(burst.vast.created) == 1
    assert route("thumbnail").name == "cpu"
