"""The GPU manager: starts a node when the heavy backlog is long, readies it, stops it when idle or
when the budget is spent. One loop process (`python -m gpu.manager`); its state is in Redis.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Callable

from redis import Redis
from rq import Queue

from functions.common.logs import configure_logging
from scheduler import keys
from scheduler.transport import GatewayError
from storage.client import public_endpoint
from storage.settings import StorageSettings

from . import clock
from .backlog import heavy_wait_s
from .breaker import Breaker
from .budget import Budget, month_start
from .gateway import node_gateway
from .nodes import GpuNode, Nodes, NodeState
from .settings import GpuSettings
from .tls import NodeCertificate, node_certificate, store_problem
from .vast import Vast, VastError

logger = logging.getLogger(__name__)

READY_STATUS = "running"

Probe = Callable[[GpuNode], list[str] | None]


class Manager:
    """One `tick()` looks at spend, nodes and backlog once; the loop calls it every `tick_s`.

    `backlog` gives the expected CPU wait of the heavy steps in seconds, `probe` the functions a node
    serves ready (None when it does not answer): both default to the real queue and the node's API.
    `certificates` makes each node's TLS pair; `store_check` says why nodes could not fetch from the
    store's public endpoint (None when they can).
    """

    def __init__(
        self,
        redis: Redis,
        settings: GpuSettings,
        queue: Queue | None = None,
        vast: Vast | None = None,
        backlog: Callable[[], float] | None = None,
        probe: Probe | None = None,
        certificates: Callable[[], NodeCertificate] = node_certificate,
        store_check: Callable[[], str | None] | None = None,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.nodes = Nodes(redis)
        self.budget = Budget(redis, settings)
        self.breaker = Breaker(redis, settings.breaker_failures, settings.breaker_cooldown_s)
        self.vast = vast or (Vast(settings) if settings.enabled else None)
        if backlog is None:
            assert queue is not None, "the manager needs the queue or a backlog measure"
            backlog = lambda: heavy_wait_s(queue, settings)  # noqa: E731
        self.backlog = backlog
        self.probe = probe or self._probe
        self.certificates = certificates
        self.store_check = store_check or (lambda: store_problem(public_endpoint(StorageSettings())))
        self.owner = uuid.uuid4().hex

    # -- status a person reads -------------------------------------------------------------------
    def report(self, message: str, kind: str = "info") -> None:
        """Records what GPU burst is doing; a new problem is logged once, not every tick."""
        previous = self.redis.hget(keys.GPU_STATUS, "message")
        if previous is None or keys.text(previous) != message:
            log = logger.warning if kind in ("auth", "outage", "rejected", "error", "store") else logger.info
            log("GPU burst: %s", message)
        self.redis.hset(keys.GPU_STATUS, mapping={"message": message, "kind": kind, "at": clock.now()})

    # -- one look at everything ------------------------------------------------------------------
    def tick(self) -> None:
        now = clock.now()
        if self.vast is None:
            self.report("GPU burst off: no Vast.ai key; every step runs on the CPU", "off")
            return
        if not self._lead():
            return
        try:
            self._tick(now)
        except VastError as exc:
            # Nothing waits on Vast.ai: without a ready node every heavy step runs on the CPU.
            self.report(f"{exc}; heavy steps run on the CPU meanwhile", exc.kind)

    def _lead(self) -> bool:
        """Only one manager acts at a time, so two never rent a node for the same backlog."""
        ttl = max(1, int(self.settings.tick_s * 4))
        if self.redis.set(keys.GPU_MANAGER_LOCK, self.owner, nx=True, ex=ttl):
            return True
        holder = self.redis.get(keys.GPU_MANAGER_LOCK)
        if holder is not None and keys.text(holder) == self.owner:
            self.redis.expire(keys.GPU_MANAGER_LOCK, ttl)
            return True
        return False

    def _tick(self, now: float) -> None:
        nodes = [self.budget.accrue(node, now) for node in self.nodes.all()]
        for node in nodes:
            self.nodes.put(node)
        # The budget comes first: a Vast.ai hiccup in a later step must not delay a stop.
        if self.budget.must_stop(nodes, now):
            self._stop_all(nodes, now)
            return
        self._attempt(lambda: self._reconcile(now))
        for node in nodes:
            self._attempt(lambda node=node: self._advance(node, now))  # type: ignore[misc]
        self._attempt(lambda: self._stop_idle(self.nodes.all(), now))
        self._maybe_start(self.nodes.all(), now)

    def _attempt(self, step: Callable[[], None]) -> None:
        try:
            step()
        except VastError as exc:
            self.report(f"{exc}; heavy steps run on the CPU meanwhile", exc.kind)

    def _reconcile(self, now: float) -> None:
        """Every `reconcile_s`: the account's credit and invoiced charges correct our own booking."""
        last = self.redis.hget(keys.GPU_STATUS, "reconciled_at")
        if last is not None and now - float(last) < self.settings.reconcile_s:
            return
        assert self.vast is not None
        self.budget.record_credit(self.vast.credit(), now)
        self.budget.reconcile(self.vast.charges(month_start(now)), now)
        known = {node.id for node in self.nodes.all()}
        for stray in set(self.vast.labelled()) - known:
            # An instance we rented but lost track of (a crash between create and record) costs money.
            logger.warning("destroying Vast.ai instance %s: labelled %s but not tracked", stray,
                           self.settings.label)
            self.vast.destroy(stray)
        self.redis.hset(keys.GPU_STATUS, "reconciled_at", now)

    # -- node lifecycle --------------------------------------------------------------------------
    def _advance(self, node: GpuNode, now: float) -> None:
        assert self.vast is not None
        if node.state == NodeState.STARTING:
            found = self.vast.instance(node.id)
            if found is None or found.status in ("exited", "offline"):
                self._destroy(node, now, f"Vast.ai reports it {found.status if found else 'gone'}")
                return
            node.url, node.dph = found.url or node.url, found.dph or node.dph
            served = self.probe(node) if found.status == READY_STATUS and node.url else None
            wanted = set(self.settings.node_functions)
            if served is not None and wanted <= set(served):
                node.state, node.ready_at, node.functions = NodeState.READY, now, sorted(served)
                self.nodes.touch(node.id, now)
                self.breaker.forget(node.gateway_name)
                self.report(f"GPU node {node.id} ({node.gpu_name}, {node.dph:.3f} USD/h) ready at {node.url}")
            elif now - node.created_at > self.settings.boot_timeout_s:
                self._destroy(node, now, f"not ready after {self.settings.boot_timeout_s:.0f} s")
                return
            self.nodes.put(node)
        elif node.state == NodeState.READY:
            if self.probe(node) is None:
                node.unhealthy += 1
                self.breaker.failure(node.gateway_name, trip=True)
                if node.unhealthy >= self.settings.unhealthy_ticks:
                    self._destroy(node, now, f"no answer to {node.unhealthy} health checks")
                    return
            else:
                node.unhealthy = 0
            self.nodes.put(node)
        elif node.state == NodeState.DRAINING:
            # A draining node gets one tick to finish its calls; the budget reserve covers that tick.
            drained_for = now - (node.draining_since or now)
            if self.nodes.load(node.id).in_flight == 0 or drained_for >= self.settings.tick_s:
                self._destroy(node, now, node.reason)

    def _drain(self, node: GpuNode, reason: str, now: float) -> None:
        node.state, node.reason, node.draining_since = NodeState.DRAINING, reason, now
        self.nodes.put(node)

    def _destroy(self, node: GpuNode, now: float, reason: str) -> None:
        assert self.vast is not None
        self.vast.destroy(node.id)  # a failure leaves the node recorded: the next tick tries again
        self.budget.accrue(node, now)
        self.nodes.forget(node.id)
        self.breaker.forget(node.gateway_name)
        self.report(f"GPU node {node.id} destroyed: {reason}")

    def _stop_all(self, nodes: list[GpuNode], now: float) -> None:
        left = self.budget.spend(now).left
        reason = f"budget nearly spent ({left:.2f} {self.settings.currency} left)"
        for node in nodes:
            if node.state != NodeState.DRAINING:
                self._drain(node, reason, now)
            drained_for = now - (node.draining_since or now)
            if self.nodes.load(node.id).in_flight == 0 or drained_for >= self.settings.tick_s:
                self._destroy(node, now, reason)
        self.report(f"GPU burst paused: {reason}; heavy steps run on the CPU", "budget")

    def _stop_idle(self, nodes: list[GpuNode], now: float) -> None:
        for node in nodes:
            if node.state != NodeState.READY:
                continue
            load = self.nodes.load(node.id)
            if load.in_flight == 0 and now - load.last_busy >= self.settings.idle_s:
                self._destroy(node, now, f"idle for {now - load.last_busy:.0f} s")

    def _maybe_start(self, nodes: list[GpuNode], now: float) -> None:
        s = self.settings
        if len(nodes) >= s.max_nodes or any(n.state == NodeState.STARTING for n in nodes):
            return
        wait = self.backlog()
        # Each further node needs a proportionally longer backlog: the running ones already drain it.
        if wait <= s.backlog_threshold_s * (1 + len(nodes)):
            return
        problem = self.store_check()
        if problem:
            self.report(f"GPU burst cannot start a node: {problem}; heavy steps run on the CPU", "store")
            return
        assert self.vast is not None
        offer = self.vast.cheapest_offer()
        if offer is None:
            self.report(f"no Vast.ai offer with >= {s.min_gpu_ram_gb:g} GB GPU memory, "
                        f"<= {s.max_dph:g} USD/h and reliability >= {s.min_reliability:g}; "
                        "heavy steps run on the CPU", "offers")
            return
        if not self.budget.can_start(offer.dph, nodes, now):
            left = self.budget.spend(now).left
            self.report(f"budget left ({left:.2f} {s.currency}) does not cover another node at "
                        f"{offer.dph:.3f} USD/h; heavy steps run on the CPU", "budget")
            return
        token = s.node_token or secrets.token_urlsafe(24)
        # The key goes to the node alone; the certificate is kept, for every client to pin.
        pair = self.certificates()
        instance = self.vast.create(offer, {
            "MEDIALENS_HOST_TOKEN": token,
            "MEDIALENS_HOST_BASIC_AUTH_PASSWORD": token,
            "MEDIALENS_HOST_FUNCTIONS": ",".join(s.node_functions),
            # The node's functions fetch and write through the store's public address alone.
            "MEDIALENS_FN_ALLOWED_ORIGINS": public_endpoint(StorageSettings()),
            **pair.environment(),
        })
        node = GpuNode(id=instance, offer_id=offer.id, dph=offer.dph, token=token, created_at=now,
                       gpu_name=offer.gpu_name, cert=pair.cert_pem)
        self.nodes.put(node)
        self.report(f"GPU node {instance} starting ({offer.gpu_name}, {offer.dph:.3f} USD/h): "
                    f"heavy backlog {wait:.0f} s on the CPU")

    def _probe(self, node: GpuNode) -> list[str] | None:
        """The node's ready functions, from its /healthz and /system/functions; None when it fails."""
        gateway = node_gateway(node, self.redis, self.settings)
        if not gateway.healthy():
            return None
        try:
            listed = gateway.functions()
        except (GatewayError, ValueError):
            return None
        return [str(f["name"]) for f in listed if int(f.get("availableReplicas") or 0) > 0]


def main() -> None:
    from scheduler.context import Context, use

    from .settings import settings

    configure_logging("gpu-manager")
    context = use(Context.from_environment())
    s = settings()
    manager = Manager(context.redis, s, queue=context.queue)
    if not s.enabled:
        manager.tick()
        return
    while True:
        started = time.monotonic()
        try:
            manager.tick()
        except Exception:  # one bad tick must not end the loop that stops paid nodes
            logger.exception("GPU manager tick failed")
        time.sleep(max(0.0, s.tick_s - (time.monotonic() - started)))


if __name__ == "__main__":
    main()
