"""What GPU burst is doing, for the API and `medialens gpu status`: nodes, spend, budget, cost per file."""

from __future__ import annotations

from typing import Any

from redis import Redis

from scheduler import keys

from .budget import Budget
from .gateway import files_key
from .nodes import Nodes
from .settings import OFF_MESSAGE, GpuSettings


def status(redis: Redis, settings: GpuSettings, now: float) -> dict[str, Any]:
    nodes = Nodes(redis)
    spend = Budget(redis, settings).spend(now)
    files = int(redis.pfcount(files_key(now)))
    recorded = {keys.text(k): keys.text(v) for k, v in redis.hgetall(keys.GPU_STATUS).items()}
    if settings.enabled:
        message = recorded.get("message", "GPU burst on: waiting for a heavy backlog")
    else:
        message = OFF_MESSAGE
    return {
        "enabled": settings.enabled,
        "message": message,
        "problem": recorded.get("kind") in ("auth", "outage", "rejected", "budget", "offers", "store"),
        "nodes": [
            {**node.public(), "in_flight": load.in_flight, "calls": load.calls,
             "busy_s": round(load.busy_s, 1)}
            for node in nodes.all()
            for load in [nodes.load(node.id)]
        ],
        "spend": {"day": round(spend.day, 4), "month": round(spend.month, 4), "currency": settings.currency},
        "budget": {
            "daily_cap": spend.day_cap,
            "monthly_cap": spend.month_cap,
            "left": round(spend.left, 4),
            "account_credit": None if spend.credit is None else round(spend.credit, 2),
        },
        "files_this_month": files,
        "cost_per_file": round(spend.month / files, 4) if files else None,
        "max_nodes": settings.max_nodes,
    }
