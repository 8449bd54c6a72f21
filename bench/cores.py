"""Where the cores went during a batch: the CPU time of each service of the stack, and of each function inside
the functions host (its `medialens_function_cpu_seconds`), per image, beside what the inference bound counts.

The share of the bound says how far the pipeline falls short; this says what took the difference: a function
costing more in the host than alone, the services around the models, or cores left idle.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from embedded.stack import SUPERVISOR, Stack

if TYPE_CHECKING:
    import psutil

T = TypeVar("T")

FUNCTIONS = "functions"


def service_processes(stack: Stack) -> dict[str, list[psutil.Process]]:
    """Each running service with any process it started; the supervisor alone."""
    import psutil

    services = {}
    for name, pid in stack.running().items():
        try:
            service = psutil.Process(pid)
            services[name] = [service, *service.children(recursive=True)]
        except psutil.NoSuchProcess:  # it ended since the stack was asked (a restart)
            continue
    if (supervisor := stack.supervisor_pid()) is not None:
        services[SUPERVISOR] = [psutil.Process(supervisor)]
    return services


def readings(processes: list[psutil.Process], read: Callable[[psutil.Process], T]) -> list[T]:
    """``read`` of each process; a short-lived child that ended meanwhile gives none."""
    import psutil

    found = []
    for process in processes:
        try:
            found.append(read(process))
        except psutil.NoSuchProcess:
            continue
    return found


def summed(processes: list[psutil.Process], read: Callable[[psutil.Process], float]) -> float:
    """``read`` of each process, added up; a short-lived child that ended meanwhile counts nothing."""
    return float(sum(readings(processes, read)))


def cpu_seconds(process: psutil.Process) -> float:
    """User and system time of a process and of its children that ended."""
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def service_cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds (user and system) each service has used: its processes, and those of them that ended."""
    return {name: summed(processes, cpu_seconds) for name, processes in service_processes(stack).items()}


def function_cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds each function has used in the functions host, from its metrics."""
    s = stack.settings
    reply = httpx.get(s.url(s.gateway_port) + "/metrics", timeout=10)
    reply.raise_for_status()
    return {
        sample.labels["function"]: sample.value
        for family in text_string_to_metric_families(reply.text) if family.name == "medialens_function_cpu_seconds"
        for sample in family.samples if sample.name == "medialens_function_cpu_seconds_total"
    }


def taken(stack: Stack) -> dict[str, Any]:
    """A reading, to subtract from a later one."""
    import psutil

    return {"at": time.perf_counter(), "idle": psutil.cpu_times().idle, "services": service_cpu(stack),
            "functions": function_cpu(stack)}


def spent(before: dict[str, Any], after: dict[str, Any], images: int, cores: int) -> dict[str, Any]:
    """CPU ms per image of each service and function between two readings, the machine's idle time, and what
    the cores could have given (cores x wall time)."""

    def per_image(seconds: float) -> float:
        return round(seconds * 1000 / images, 1)

    def each(kind: str) -> dict[str, float]:
        return {name: per_image(after[kind][name] - before[kind].get(name, 0.0)) for name in after[kind]}

    return {
        "images": images,
        "cores": cores,
        "services_ms": each("services"),
        "functions_ms": each("functions"),
        "offered_ms": per_image((after["at"] - before["at"]) * cores),
        "idle_ms": per_image(after["idle"] - before["idle"]),
    }


def markdown(used: dict[str, Any], bound: dict[str, Any]) -> str:
    """Two tables: the functions host's calls against the bound's in-process figures, then every service."""
    alone = {name: row["cpu_ms_mean"] for name, row in bound["analyzers"].items() if "cpu_ms_mean" in row}
    functions = sorted(used["functions_ms"].items(), key=lambda item: -item[1])
    in_bound = sum(ms for name, ms in functions if name in alone)
    host = used["services_ms"].get(FUNCTIONS, 0.0)
    services = sorted(used["services_ms"].items(), key=lambda item: -item[1])
    stack = sum(ms for _, ms in services)

    def ratio(name: str, ms: float) -> str:
        return f"{ms / alone[name]:.2f}" if alone.get(name) else "not in the bound"

    return "\n".join([
        "| function | CPU ms per image in the pipeline | alone (the bound's figure) | pipeline / alone |",
        "|---|---|---|---|",
        *(f"| {name} | {ms:,.1f} | {alone.get(name, '')} | {ratio(name, ms)} |" for name, ms in functions),
        f"| **the bound's analyzers** | **{in_bound:,.1f}** | {bound['cpu_ms_per_image_all_analyzers']:,.1f} | "
        f"{in_bound / bound['cpu_ms_per_image_all_analyzers']:.2f} |",
        f"| the functions host beside its calls' threads | {host - sum(ms for _, ms in functions):,.1f} | | |",
        "",
        "| where | CPU ms per image |",
        "|---|---|",
        *(f"| {name} | {ms:,.1f} |" for name, ms in services),
        f"| **every service of the stack** | **{stack:,.1f}** |",
        f"| outside the stack (the bench's uploads and polling, the rest of the machine) | "
        f"{used['offered_ms'] - stack - used['idle_ms']:,.1f} |",
        f"| cores idle | {used['idle_ms']:,.1f} |",
        f"| **the cores' time per image** ({used['cores']} cores x wall time / images) | "
        f"**{used['offered_ms']:,.1f}** |",
        f"| share of it spent in the bound's analyzers, on these same images | {in_bound / used['offered_ms']:.0%} |",
        "",
        "A function's CPU is that of the thread serving each call, where its model runs (the bound's figures count "
        "every thread of a process); the host's remainder is its server threads, logging, metrics and any thread "
        "a call starts. Idle is the machine's, read from the kernel.",
    ])
