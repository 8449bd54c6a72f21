"""How long the queued GPU-capable steps would keep the CPU busy: the signal that starts a GPU node."""

from __future__ import annotations

from rq import Queue, Worker
from rq.job import Job

from functions import catalog

from .settings import GpuSettings

STEP_FUNC = "scheduler.steps.run_step"


def heavy_functions(queue: Queue) -> list[str]:
    """The function of every step a GPU node could take (stack.yml's `medialens.gpu`) waiting in the
    queue or for its dependencies."""
    ids = queue.get_job_ids() + queue.deferred_job_registry.get_job_ids()
    found = []
    for job in Job.fetch_many(ids, connection=queue.connection):
        if job is None or job.func_name != STEP_FUNC or len(job.args) < 2:
            continue
        function = str(job.args[1].get("function", ""))
        if function in catalog.gpu_functions():
            found.append(function)
    return found


def heavy_wait_s(queue: Queue, settings: GpuSettings) -> float:
    """Queued heavy steps times their typical CPU seconds, shared by the CPU workers."""
    work = sum(settings.typical_s(function) for function in heavy_functions(queue))
    workers = settings.cpu_workers or Worker.count(queue=queue)
    return work / max(1, workers)
