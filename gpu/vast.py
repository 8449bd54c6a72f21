"""The Vast.ai account through its SDK: offers, instances and billing, with errors a person can act on."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from vastai import VastAI

from .settings import GpuSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")


class VastError(RuntimeError):
    """A Vast.ai request that failed; `kind` is auth (bad key), outage (unreachable, 5xx) or rejected."""

    def __init__(self, message: str, kind: str, status: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


@dataclass(frozen=True)
class Offer:
    id: int
    dph: float
    gpu_name: str
    gpu_ram_gb: float
    reliability: float


@dataclass(frozen=True)
class Instance:
    id: int
    status: str  # Vast.ai's actual_status: loading, running, exited, ...
    url: str  # https://ip:port of the node's gateway, "" until the port is mapped
    dph: float


class Vast:
    def __init__(self, settings: GpuSettings) -> None:
        self.settings = settings
        self.sdk = VastAI(api_key=settings.vast_api_key, server_url=settings.vast_url,
                          retry=max(1, settings.vast_retries), raw=True, quiet=True)

    def _call(self, what: str, request: Callable[[], T]) -> T:
        try:
            return request()
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status in (401, 403):
                raise VastError(f"Vast.ai rejected the API key (HTTP {status}) while trying to {what}: "
                                "check MEDIALENS_GPU_VAST_API_KEY", "auth", status) from exc
            if status == 429 or status >= 500:
                raise VastError(f"Vast.ai is unavailable (HTTP {status}) while trying to {what}", "outage",
                                status) from exc
            detail = exc.response.text[:200] if exc.response is not None else ""
            raise VastError(f"Vast.ai refused to {what} (HTTP {status}): {detail}", "rejected",
                            status) from exc
        except requests.RequestException as exc:
            raise VastError(f"cannot reach Vast.ai at {self.settings.vast_url} to {what}: "
                            f"{type(exc).__name__}", "outage") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise VastError(f"Vast.ai answered something unexpected to {what}: {exc!r}", "outage") from exc

    def cheapest_offer(self) -> Offer | None:
        """The cheapest single-GPU offer that meets the filters, or None."""
        s = self.settings
        query = {
            "num_gpus": {"eq": 1},
            "gpu_ram": {"gte": s.min_gpu_ram_gb * 1000},  # the API counts GPU memory in MB
            "dph_total": {"lte": s.max_dph},
            "reliability": {"gte": s.min_reliability},
        }
        rows = self._call("search offers", lambda: self.sdk.search_offers(
            query=query, order="dph_total", limit=20, storage=s.disk_gb))
        offers = [
            Offer(int(row["id"]), float(row["dph_total"]), str(row.get("gpu_name", "")),
                  float(row.get("gpu_ram", 0)) / 1000, float(row.get("reliability", 0)))
            for row in rows
        ]
        # The filters are checked here too: an offer that breaks them is never rented.
        fitting = [o for o in offers if o.dph <= s.max_dph and o.gpu_ram_gb >= s.min_gpu_ram_gb
                   and o.reliability >= s.min_reliability]
        return min(fitting, key=lambda o: o.dph, default=None)

    def create(self, offer: Offer, env: dict[str, str]) -> int:
        s = self.settings
        flags = " ".join([f"-p {s.node_port}:{s.node_port}", *(f"-e {k}={v}" for k, v in env.items())])
        # runtype "args" keeps the image's own entrypoint (the functions host); ssh/jupyter would replace it.
        reply = self._call("create an instance", lambda: self.sdk.create_instance(
            offer.id, image=s.image, disk=s.disk_gb, env=flags, label=s.label, runtype="args"))
        if not reply.get("success") or "new_contract" not in reply:
            raise VastError(f"Vast.ai did not create an instance from offer {offer.id}: {reply}", "rejected")
        return int(reply["new_contract"])

    def instance(self, instance_id: int) -> Instance | None:
        row = self._call(f"show instance {instance_id}", lambda: self.sdk.show_instance(instance_id))
        if not row:
            return None
        port = (row.get("ports") or {}).get(f"{self.settings.node_port}/tcp") or []
        address = str(row.get("public_ipaddr") or "").strip()
        url = f"https://{address}:{port[0]['HostPort']}" if port and address else ""
        status = str(row.get("actual_status") or "")
        return Instance(instance_id, status, url, float(row.get("dph_total") or 0))

    def destroy(self, instance_id: int) -> None:
        try:
            self._call(f"destroy instance {instance_id}", lambda: self.sdk.destroy_instance(instance_id))
        except VastError as exc:
            if exc.status != 404:  # already gone is what we wanted
                raise

    def labelled(self) -> list[int]:
        """Our instances, as Vast.ai knows them: strays the manager lost track of show up here."""
        rows = self._call("list instances", self.sdk.show_instances)
        return [int(row["id"]) for row in rows if row.get("label") == self.settings.label]

    def credit(self) -> float:
        user: dict[str, Any] = self._call("read the account", self.sdk.show_user)
        return float(user.get("credit", 0.0))

    def charges(self, since: float) -> dict[int, float]:
        """USD charged per instance since `since` (epoch seconds), from the account's invoices."""
        start = datetime.fromtimestamp(since, UTC).isoformat()

        def fetch() -> dict[str, Any]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                found: dict[str, Any] = self.sdk.show_invoices(start_date=start, only_charges=True)
                return found

        charged: dict[int, float] = {}
        for row in self._call("read the invoices", fetch)["invoices"]:
            if row.get("instance_id") is not None:
                key = int(row["instance_id"])
                charged[key] = charged.get(key, 0.0) + float(row.get("amount") or 0)
        return charged
