"""GPU burst settings (environment variables prefixed MEDIALENS_GPU_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from functions import catalog
from scheduler.context import current

OFF_MESSAGE = "GPU burst off: no Vast.ai key (set MEDIALENS_GPU_VAST_API_KEY); every step runs on the CPU"


class GpuSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_GPU_")

    vast_api_key: str = Field(default="", description="Vast.ai API key; empty turns GPU burst off.")
    vast_url: str = Field(default="https://console.vast.ai", description="Vast.ai API server.")
    vast_retries: int = Field(default=2, description="Tries per Vast.ai request (429, 5xx, lost link).")
    max_nodes: int = Field(default=1, description="Most GPU nodes running at once.")
    min_gpu_ram_gb: float = Field(default=16.0, description="Offer filter: least GPU memory, in GB.")
    max_dph: float = Field(default=0.60, description="Offer filter: highest price per hour, in USD.")
    min_reliability: float = Field(default=0.98, description="Offer filter: least host reliability (0-1).")
    disk_gb: float = Field(default=40.0, description="Disk of a node, in GB (the image and its models).")
    image: str = Field(default="ghcr.io/medialens/gpu-node:latest", description="Image a node runs.")
    node_port: int = Field(default=8080, description="Port the node image serves the gateway API on.")
    node_token: str = Field(default="", description="Bearer token of the nodes; empty: a fresh one each.")
    label: str = Field(default="medialens-gpu", description="Vast.ai label of our instances (finds strays).")
    functions: str = Field(
        default="", description='Functions a node serves, comma-separated; empty: stack.yml\'s medialens.gpu ones.'
    )
    backlog_threshold_s: float = Field(
        default=600.0, description="Start a node when the heavy backlog would take longer on the CPU."
    )
    idle_s: float = Field(default=300.0, description="Destroy a node after this long without a call.")
    boot_timeout_s: float = Field(default=900.0, description="Destroy a node not ready after this long.")
    daily_cap: float = Field(default=5.0, description="Most GPU spend per UTC day, in `currency`.")
    monthly_cap: float = Field(default=50.0, description="Most GPU spend per UTC month, in `currency`.")
    currency: str = Field(default="USD", description="Currency of the caps.")
    usd_rate: float = Field(default=1.0, description="Units of `currency` one USD buys (Vast.ai bills USD).")
    tick_s: float = Field(default=15.0, description="How often the manager looks at backlog, nodes, spend.")
    stop_margin_s: float = Field(
        default=120.0, description="Time a destroy may take to end billing; that spend is held in reserve."
    )
    reconcile_s: float = Field(default=300.0, description="How often spend is checked against the account.")
    breaker_failures: int = Field(default=3, description="Failed calls in a row that take a node out.")
    breaker_cooldown_s: float = Field(default=60.0, description="How long a tripped node gets no calls.")
    unhealthy_ticks: int = Field(default=3, description="Failed health checks in a row before destroying.")
    cpu_workers: int = Field(default=0, description="CPU workers sharing the backlog; 0: count RQ workers.")
    typical_cpu_s: dict[str, float] = Field(
        default_factory=lambda: {"transcribe": 120.0, "clip": 10.0, "faces": 8.0, "ocr": 10.0, "caption": 2.0,
                                 "summarize": 60.0},
        description='Typical CPU seconds of one heavy step, as JSON {"function": seconds}.',
    )

    @property
    def enabled(self) -> bool:
        return bool(self.vast_api_key)

    @property
    def node_functions(self) -> list[str]:
        named = [name.strip() for name in self.functions.split(",") if name.strip()]
        return named or catalog.gpu_functions()

    def typical_s(self, function: str) -> float:
        return self.typical_cpu_s.get(function, 30.0)


def settings() -> GpuSettings:
    """The GPU burst settings of this process's context (scheduler/context.py)."""
    return current().shared("gpu.settings", GpuSettings)
