"""GET /api/v1/gpu: GPU burst nodes, spend, budget left and cost per processed file."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from gpu import clock
from gpu.settings import settings
from gpu.status import status

from .api import require_key
from .context import redis

gpu = Blueprint("gpu", __name__, url_prefix="/api/v1/gpu")
gpu.before_request(require_key)


@gpu.get("")
def gpu_status() -> tuple[Response, int]:
    return jsonify(status(redis(), settings(), clock.now())), 200
