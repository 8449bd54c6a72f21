"""A local fake of the Vast.ai API: the request paths and response shapes the vastai SDK uses.

It serves offers, creates instances that go from "loading" to "running" after `boot_s` on its
clock, maps their port to `node_port` on 127.0.0.1, bills them by `dph_total` x running time, and
can answer as the real API does to a bad key (401) or in an outage (5xx).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

DEFAULT_OFFERS = [
    {"id": 501, "dph_total": 0.42, "gpu_name": "RTX 4090", "gpu_ram": 24564, "reliability": 0.995,
     "num_gpus": 1},
    {"id": 502, "dph_total": 0.28, "gpu_name": "RTX 3090", "gpu_ram": 24576, "reliability": 0.991,
     "num_gpus": 1},
    {"id": 503, "dph_total": 0.12, "gpu_name": "GTX 1080", "gpu_ram": 8192, "reliability": 0.97,
     "num_gpus": 1},
    {"id": 504, "dph_total": 1.90, "gpu_name": "H100 SXM", "gpu_ram": 81559, "reliability": 0.999,
     "num_gpus": 1},
]

OPS: dict[str, Callable[[float, Any], bool]] = {
    "eq": lambda a, b: a == b, "neq": lambda a, b: a != b, "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
}


class FakeVast:
    def __init__(self, clock: Callable[[], float], api_key: str = "good-key", boot_s: float = 60.0) -> None:
        self.clock = clock
        self.api_key = api_key
        self.boot_s = boot_s
        self.offers: list[dict[str, Any]] = [dict(o) for o in DEFAULT_OFFERS]
        self.node_port = 0
        self.outage: int | None = None  # answer every request with this status
        self.credit = 100.0
        self.extra_charges: dict[int, float] = {}  # charges the account shows beyond dph x time
        self.instances: dict[int, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []  # create payloads, as the SDK sent them
        self.destroyed: list[int] = []
        self.requests = 0
        self._next_id = 9000
        self.lock = threading.Lock()
        self.app = self._app()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in test output
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeVast:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()

    # -- billing -----------------------------------------------------------------------------
    def charged(self, instance: int) -> float:
        row = self.instances[instance]
        end = row["_ended"] if row["_ended"] is not None else self.clock()
        billed = row["dph_total"] * max(0.0, end - row["start_date"]) / 3600
        return billed + self.extra_charges.get(instance, 0.0)

    def live(self) -> list[int]:
        return [i for i, row in self.instances.items() if row["_ended"] is None]

    def _row(self, instance: int) -> dict[str, Any]:
        row = self.instances[instance]
        running = self.clock() - row["start_date"] >= self.boot_s
        status = row["_status"] or ("running" if running else "loading")
        public = {k: v for k, v in row.items() if not k.startswith("_")}
        mapped = {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(self.node_port)}]}
        public.update(
            actual_status=status, cur_state="running", intended_status="running", next_state="running",
            ports=mapped if status == "running" else {},
            public_ipaddr="127.0.0.1\n",  # the real API pads it; the SDK's show_instances strips it
        )
        return public

    def _app(self) -> Flask:
        app = Flask("fake-vast")

        @app.before_request
        def gate() -> Response | tuple[Response, int] | None:
            with self.lock:
                self.requests += 1
            if self.outage:
                return jsonify(success=False, error="server_error", msg="Service unavailable"), self.outage
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return jsonify(success=False, error="invalid_user_key", msg="Invalid user key"), 401
            return None

        @app.post("/api/v0/bundles/")
        def bundles() -> Response:
            query = request.get_json() or {}
            found = []
            for offer in self.offers:
                ok = True
                for field, conditions in query.items():
                    if field not in offer or not isinstance(conditions, dict):
                        continue
                    for op, value in conditions.items():
                        if op in OPS and not OPS[op](offer[field], float(value)):
                            ok = False
                if ok:
                    found.append(offer)
            for field, direction in reversed(query.get("order") or []):
                found.sort(key=lambda o: float(o.get(field, 0)), reverse=direction == "desc")
            return jsonify(offers=found[: int(query.get("limit") or 64)])

        @app.put("/api/v0/asks/<int:offer_id>/")
        def create(offer_id: int) -> Response | tuple[Response, int]:
            offer = next((o for o in self.offers if o["id"] == offer_id), None)
            if offer is None:
                return jsonify(success=False, error="no_such_ask", msg=f"offer {offer_id} is gone"), 404
            body = request.get_json() or {}
            with self.lock:
                self._next_id += 1
                instance = self._next_id
            self.created.append({"offer": offer_id, **body})
            env = {k: v for k, v in (body.get("env") or {}).items() if not k.startswith("-")}
            self.instances[instance] = {
                "id": instance, "machine_id": offer_id, "start_date": self.clock(),
                "extra_env": [[k, v] for k, v in env.items()], "dph_total": offer["dph_total"],
                "gpu_name": offer["gpu_name"], "num_gpus": 1, "gpu_ram": offer["gpu_ram"],
                "label": body.get("label"), "image_uuid": body.get("image"), "ssh_host": "127.0.0.1",
                "ssh_port": 22, "_ended": None, "_status": None,
            }
            return jsonify(success=True, new_contract=instance)

        @app.get("/api/v0/instances/<int:instance>/")
        def show(instance: int) -> Response:
            if instance not in self.instances or self.instances[instance]["_ended"] is not None:
                return jsonify(instances=None)
            return jsonify(instances=self._row(instance))

        @app.delete("/api/v0/instances/<int:instance>/")
        def destroy(instance: int) -> Response | tuple[Response, int]:
            if instance not in self.instances or self.instances[instance]["_ended"] is not None:
                return jsonify(success=False, error="no_such_instance", msg="no such instance"), 404
            self.instances[instance]["_ended"] = self.clock()
            self.destroyed.append(instance)
            return jsonify(success=True)

        @app.get("/api/v1/instances/")
        def listing() -> Response:
            return jsonify(instances=[self._row(i) for i in self.live()], next_token=None)

        @app.get("/api/v0/users/current")
        def user() -> Response:
            spent = sum(self.charged(i) for i in self.instances)
            return jsonify(id=1, email="tests@example.org", credit=self.credit - spent, balance=0.0,
                           api_key=self.api_key)

        @app.get("/api/v0/users/me/invoices")
        def invoices() -> Response:
            rows = [{"type": "charge", "instance_id": i, "amount": round(self.charged(i), 6),
                     "description": f"instance {i}", "timestamp": self.clock()} for i in self.instances]
            return jsonify(invoices=rows, current={"charges": sum(r["amount"] for r in rows)})

        return app
