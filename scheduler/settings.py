"""Scheduler settings (environment variables prefixed MEDIALENS_SCHEDULER_)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .plans import PlanSettings
from .redis_connection import sentinel_group


class SchedulerSettings(BaseSettings):
    # The Redis URL may hold a password: an error names the setting, never its value.
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_SCHEDULER_", hide_input_in_errors=True)

    redis_url: str = Field(
        "redis://127.0.0.1:6390/0",
        description="Redis for state and queues: redis://[:password@]host:port/db, or a Sentinel group, "
        "redis+sentinel://[:password@]host:26379,host:26379,host:26379/<master>/<db> "
        "(gateway-config/README.md, \"Redis failover\").",
    )
    redis_replicas: int | None = Field(
        None, description="Replicas a write that must survive a failover (an accepted upload, a settled step) "
        "waits for; unset: 1 with a Sentinel URL, 0 with a plain one.",
    )
    redis_replica_wait_ms: int = Field(
        1000, description="How long such a write waits for its replicas before the intake refuses the event "
        "(the bucket sends it again) or a step goes on with a warning.",
    )
    queue: str = Field("medialens", description="RQ queue the steps run on.")
    gateways: dict[str, str] = Field(
        default_factory=lambda: {"cpu": "http://127.0.0.1:8080"},
        description='Gateways by label, as JSON: {"cpu": "http://..."}; steps go to "cpu" '
        "unless routing (scheduler/routing.py) picks another.",
    )
    gateway_user: str = Field("admin", description="Basic-auth user for the gateway's /system API.")
    gateway_password: str = Field("", description="Basic-auth password for the gateway's /system API.")
    gateway_token: str = Field(
        "", description="Bearer token sent with every call to the gateways (the functions host's MEDIALENS_HOST_TOKEN)."
    )
    intake_token: str = Field("", description="Bearer token the bucket webhook must send.")
    intake_host: str = Field("127.0.0.1", description="Address the intake binds to.")
    intake_port: int = Field(8001, description="Port the intake listens on.")
    step_attempts: int = Field(4, description="Attempts per step on transient gateway errors.")
    outage_wait_s: float = Field(
        300.0, description="How long a step waits, retrying, for a gateway that cannot be reached before it fails."
    )
    job_retries: int = Field(
        2, description="Times a job whose worker died (or that crashed) is run again before its upload fails."
    )
    heartbeat_s: float = Field(
        10.0, description="How often a busy worker says it is alive; a job is taken back after 3 missed beats."
    )
    sweep_interval_s: float = Field(
        15.0, description="How often, at most, a worker between jobs sweeps for lost jobs (scheduler/sweep.py)."
    )
    sweep_grace_s: float = Field(
        60.0, description="How long an unfinished step (or a settled upload's finish) may have no RQ job before "
        "the sweep queues it again."
    )
    sweep_repairs: int = Field(
        3, description="Times the sweep queues a step (or finish) again before it fails it: its job kept being lost."
    )
    worker_prefix: str = Field(
        "worker", description="Start of each worker's name (a random part follows): on a worker host, the host's "
        "name, so that RQ's worker list and each job's worker_name tell which machine ran it.",
    )
    retry_backoff_s: float = Field(0.5, description="First pause between attempts; doubles.")
    not_ready_wait_s: float = Field(
        180.0, description="How long a step waits for a function that is still loading its model."
    )
    result_ttl_s: int = Field(
        60, ge=0, description="How long an RQ job that ran to its end is kept (the System page counts them). Nothing "
        "reads one once its step has settled: kept a day, they were 62 of the 71 KiB an upload left in Redis, and "
        "kept 10 min, Redis held 53 KiB per upload during a batch of 900 pictures, most of it these."
    )
    failure_ttl_s: int = Field(
        24 * 3600, ge=0, description="How long an RQ job that crashed for good is kept, to look into."
    )
    thumbnail_size: int = Field(320, description="Long side of thumbnails, in pixels.")
    max_keyframes: int = Field(12, description="Most keyframes taken from one video.")
    keyframe_interval_s: float = Field(2.0, description="Least time between two keyframes, in seconds.")
    transcribe_chunk_s: float = Field(
        30.0, description="Audio per transcribe call, sent as its options.duration_s; sizes job timeouts."
    )

    @field_validator("redis_url")
    @classmethod
    def _usable_redis_url(cls, url: str) -> str:
        sentinel_group(url)
        return url

    def replicas_wanted(self) -> int:
        """How many replicas the writes that must survive a failover wait for."""
        if self.redis_replicas is not None:
            return max(self.redis_replicas, 0)
        return 1 if sentinel_group(self.redis_url) else 0

    def plan_settings(self) -> PlanSettings:
        return PlanSettings(
            thumbnail_size=self.thumbnail_size,
            max_keyframes=self.max_keyframes,
            keyframe_interval_s=self.keyframe_interval_s,
            transcribe_chunk_s=self.transcribe_chunk_s,
        )
