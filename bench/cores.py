"""Where the cores went during a batch: the CPU time of each service of the stack, and of each function inside
the functions host (its `medialens_function_cpu_seconds`), per image, beside what the inference bound counts.

The share of the bound says how far the pipeline falls short; this says what took the difference: a function
costing more in the host than alone, the services around the models, or cores left idle.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from embedded.stack import SUPERVISOR, Stack

if TYPE_CHECKING:
    import psutil

FUNCTIONS = "functions"


def service_processes(stack: Stack) -> dict[str, list[psutil.Process]]:
    """Each running service with any process it started; the supervisor alone."""
    import psutil

    services = {}
    for name, pid in stack.running().items():
        service = psutil.Process(pid)
        services[name] = [service, *service.children(recursive=True)]
    if (supervisor := stack.supervisor_pid()) is not None:
        services[SUPERVISOR] = [psutil.Process(supervisor)]
    return services


def service_cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds (user and system) each service has used: its processes, and those of them that ended."""
    import psutil

    used = {}
    for name, processes in service_processes(stack).items():
        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:  # a short-lived child that ended meanwhile
                continue
            total += times.user + times.system + times.children_user + times.children_system
        used[name] = total
    return used


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
    return {"at": time.perf_counter(), "services": service_cpu(stack), "functions": function_cpu(stack)}


def spent(before: dict[str, Any], after: dict[str, Any], images: int, cores: int) -> dict[str, Any]:
    """CPU ms per image of each service and function between two readings, and the cores' time left idle."""

    def per_image(kind: str) -> dict[str, float]:
        return {name: round((after[kind][name] - before[kind].get(name, 0.0)) * 1000 / images, 1)
                for name in after[kind]}

    services = per_image("services")
    offered = (after["at"] - before["at"]) * cores * 1000 / images
    return {
        "images": images,
        "cores": cores,
        "services_ms": services,
        "functions_ms": per_image("functions"),
        "offered_ms": round(offered, 1),
        "idle_ms": round(max(offered - sum(services.values()), 0.0), 1),
    }


def markdown(cores: dict[str, Any], bound: dict[str, Any]) -> str:
    """Two tables: the functions host's calls against the bound's in-process figures, then every service."""
    alone = {name: row["cpu_ms_mean"] for name, row in bound["analyzers"].items() if "cpu_ms_mean" in row}
    functions = sorted(cores["functions_ms"].items(), key=lambda item: -item[1])
    inside = sum(cores["functions_ms"].values())
    host = cores["services_ms"].get(FUNCTIONS, 0.0)
    services = sorted(cores["services_ms"].items(), key=lambda item: -item[1])

    def ratio(name: str, ms: float) -> str:
        return f"{ms / alone[name]:.2f}" if alone.get(name) else "not in the bound"

    return "\n".join([
        "| function | CPU ms per image in the pipeline | alone (the bound's figure) | pipeline / alone |",
        "|---|---|---|---|",
        *(f"| {name} | {ms:,.1f} | {alone.get(name, '')} | {ratio(name, ms)} |" for name, ms in functions),
        f"| **every call** | **{inside:,.1f}** | {bound['cpu_ms_per_image_all_analyzers']:,.1f} | |",
        f"| the functions host outside its calls | {host - inside:,.1f} | | |",
        "",
        "| service | CPU ms per image |",
        "|---|---|",
        *(f"| {name} | {ms:,.1f} |" for name, ms in services),
        f"| cores left idle | {cores['idle_ms']:,.1f} |",
        f"| **the cores' time per image** ({cores['cores']} cores x wall time / images) | "
        f"**{cores['offered_ms']:,.1f}** |",
        "",
        "A function's CPU is that of the threads serving its calls (its model runs on them); the host's remainder "
        "is its server threads, logging and metrics. Idle is what no service of the stack used, the bench's own "
        "uploads and polling included.",
    ])
