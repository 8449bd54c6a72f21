"""GET /api/v1/gpu: GPU burst nodes, spend, budget left and cost per processed file."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from gpu import clock
from gpu.settings import settings
from gpu.status import status

from .access import Need, needs
from .context import redis
from .openapi import operation
from .schemas import GpuStatus

gpu = Blueprint("gpu", __name__, url_prefix="/api/v1/gpu")


@gpu.get("")
@needs(Need.OPERATOR)
@operation("GPU burst nodes, spend, budget left and cost per file.", {200: GpuStatus})
def gpu_status() -> tuple[Response, int]:
    return jsonify(status(redis(), settings(), clock.now())), 200
