"""Keeps every service of the embedded stack alive: `python -m embedded.supervisor`, launched by `make up`.

It starts the stores (Redis, SeaweedFS) in order, each once the one before answers, then every service
that answers callers at once, and waits for them to answer, then the rest (the workers, the bridge) at
once; it adopts any service that already runs (an older install, or a supervisor that died). A service
that exits is restarted after a backoff that doubles up to a cap and starts over once the service has
stayed up a while, so a service that cannot start does not spin. SIGHUP (`make up` again) restarts
whatever is down at once; SIGTERM (`make down`) drains: workers finish their job first, then the rest
stops, the last started first.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType

from functions.common.logs import configure_logging

from .private import private_dir, write_private
from .stack import STOP_TIMEOUT_S, SUPERVISOR, Service, Stack, StackError, alive, terminate
from .workerhost import open_stack

logger = logging.getLogger(__name__)

POLL_S = 0.2


@dataclass
class Child:
    """One service as the supervisor sees it."""

    service: Service
    pid: int | None = None
    # None for a process this supervisor adopted: it can tell that it died, not its exit code.
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    held: bool = False

    @property
    def name(self) -> str:
        return self.service.name

    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return self.pid is not None and alive(self.pid)

    def exit_code(self) -> int | None:
        return self.process.returncode if self.process is not None else None


class Supervisor:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.settings = stack.settings
        self.children = [Child(service) for service in stack.services()]
        self.stopping = False
        self.kicked = False

    def run(self) -> None:
        self.adopt_or_start()
        while not self.stopping:
            kicked, self.kicked = self.kicked, False
            for child in self.children:
                if not self.stopping:
                    self.tend(child, kicked)
            time.sleep(POLL_S)
        self.drain()

    def adopt_or_start(self) -> None:
        # Python services spend seconds importing before they answer: started one after another, they
        # made `make up` the sum of those seconds (issue 17). Past the stores they need no order: each
        # retries what it asks of another (the bridge its deliveries, a worker its calls and index jobs).
        for child in [child for child in self.children if child.service.foundation]:
            if self.stopping:
                return
            if self.launch(child):
                self.ready_or_kill(child, time.monotonic() + self.settings.ready_timeout_s)
        # The workers' imports took half the CPU of a start beside the services `make up` waits for (issue 17):
        # those start last. What already runs is taken over at once, so that a drain finds every worker.
        rest = [child for child in self.children if not child.service.foundation]
        later = [child for child in rest if child.service.background and self.stack.pid(child.name) is None]
        for children in ([child for child in rest if child not in later], later):
            if not self.start_together(children):
                return

    def start_together(self, children: list[Child]) -> bool:
        """Launches ``children`` side by side and waits for each to answer; False once the supervisor stops."""
        started = []
        for child in children:
            if self.stopping:
                return False
            if self.launch(child):
                started.append(child)
        deadline = time.monotonic() + self.settings.ready_timeout_s
        for child in started:
            if self.stopping:
                return False
            self.ready_or_kill(child, deadline)
        return not self.stopping

    def launch(self, child: Child) -> bool:
        """Adopts the child's process, or starts one; False for a service stopped on purpose."""
        if self.stack.hold_file(child.name).exists():
            child.held = True
            return False
        if (pid := self.stack.pid(child.name)) is not None:
            child.pid, child.started = pid, time.monotonic()
            logger.info("adopted %s (pid %d)", child.name, pid, extra={"service": child.name})
        else:
            self.start(child)
        return True

    def tend(self, child: Child, kicked: bool) -> None:
        """Restarts the child when it is dead and its wait is over."""
        if child.running():
            return
        now = time.monotonic()
        if self.stack.hold_file(child.name).exists():
            child.held, child.restart_at = True, None
            return
        if child.restart_at is None:
            self.clear_group(child)
            # Stopped on purpose and now wanted back: no reason to wait.
            wait = 0.0 if child.held else self.backoff(child)
            child.held, child.restart_at = False, now + wait
            code = child.exit_code()
            logger.warning("%s exited (code %s); restarting in %.1f s", child.name, code, wait,
                           extra={"service": child.name, "exit_code": code, "wait_s": wait})
        if kicked:
            child.restart_at = now
        if now >= child.restart_at:
            self.start(child)
            if self.ready_or_kill(child, time.monotonic() + self.settings.ready_timeout_s):
                logger.info("%s restarted and ready", child.name, extra={"service": child.name})

    @staticmethod
    def clear_group(child: Child) -> None:
        """Kills what the dead service left in its process group (the bridge's `weed` tail, say),
        so nothing of the old process holds a port or a file the new one needs."""
        if child.pid is not None:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def backoff(self, child: Child) -> float:
        s = self.settings
        if time.monotonic() - child.started >= s.restart_reset_s:
            child.failures = 0
        wait = min(s.restart_backoff_s * 2**child.failures, s.restart_backoff_max_s)
        child.failures += 1
        return wait

    def start(self, child: Child) -> None:
        child.process = self.stack.start_service(child.service)
        child.pid, child.started, child.restart_at = child.process.pid, time.monotonic(), None

    def ready_or_kill(self, child: Child, deadline: float) -> bool:
        """Waits for the child to answer; one that has not by ``deadline`` is killed, to be restarted after
        its wait."""
        try:
            self.stack.wait_ready(child.service, deadline, lambda: child.running() and not self.stopping)
            return True
        except StackError as exc:
            if self.stopping:
                return False
            logger.error("%s", exc, extra={"service": child.name})
            if child.running() and child.pid is not None:
                os.killpg(child.pid, signal.SIGKILL)
            return False

    def drain(self) -> None:
        """Workers first, each given drain_timeout_s to finish its job (RQ's warm shutdown on
        SIGTERM); a job of a worker killed after that is taken back and retried by RQ."""
        workers = [child for child in self.children if child.service.worker]
        logger.info("draining %d workers", len(workers))
        self.stop(workers, self.settings.drain_timeout_s)
        for child in reversed([child for child in self.children if not child.service.worker]):
            self.stop([child], STOP_TIMEOUT_S)
        logger.info("stopped")

    def stop(self, children: list[Child], timeout: float) -> None:
        running = [child for child in children if child.pid is not None and child.running()]
        killed = terminate([(child.pid, child.running) for child in running if child.pid is not None], timeout)
        for child in running:
            if child.pid in killed:
                logger.warning("%s did not stop within %.0f s: killed", child.name, timeout,
                               extra={"service": child.name})
            self.stack.pid_file(child.name).unlink(missing_ok=True)


def main() -> int:
    configure_logging(SUPERVISOR)
    # Readiness checks would log every request they make.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stack = open_stack()
    private_dir(stack.state)
    lock = os.open(stack.state / f"{SUPERVISOR}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        logger.info("another supervisor runs this stack; leaving it to that one")
        return 0
    supervisor = Supervisor(stack)

    def stop(signum: int, frame: FrameType | None) -> None:
        supervisor.stopping = True

    def kick(signum: int, frame: FrameType | None) -> None:
        supervisor.kicked = True

    # Before the pid file exists: `up` sends SIGHUP to whatever pid it finds there.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, kick)
    write_private(stack.supervisor_pid_file, str(os.getpid()))
    try:
        supervisor.run()
    finally:
        stack.supervisor_pid_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
