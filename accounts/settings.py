"""Accounts settings (environment variables prefixed MEDIALENS_ACCOUNTS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DAY_S = 24 * 3600


class AccountsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_ACCOUNTS_")

    audit_retention_days: float = Field(
        365, gt=0, description="How long audit entries are kept; older ones are dropped as new ones are written."
    )
    admin_password: str = Field(
        "", description="The first password of the user 'admin', made on first start (random, and logged, if empty)."
    )
    usage_days_kept: int = Field(
        400, gt=0, description="How long per-day usage (files started and processed, CPU seconds, GPU dollars) is kept."
    )

    @property
    def audit_retention_s(self) -> float:
        return self.audit_retention_days * DAY_S
