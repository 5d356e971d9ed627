"""Settings from the environment (`SIGNOFF_*`, plus `ANTHROPIC_API_KEY`). Only api/ reads them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent.runner import RunnerSettings

__all__ = ["OFFLINE_MODEL", "Settings"]

OFFLINE_MODEL = "offline"


class Settings(BaseSettings):
    """Everything configurable, with defaults that work on a fresh machine (SQLite, offline model)."""

    model_config = SettingsConfigDict(env_prefix="SIGNOFF_", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: platformdirs.user_data_path("signoff"))
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: a SQLite file in data_dir. PostgreSQL: postgresql+asyncpg://...",
    )
    model: str = Field(
        default="anthropic:claude-sonnet-4-5",
        description="pydantic-ai model id; used when ANTHROPIC_API_KEY is set. 'offline' forces the scripted model.",
    )
    anthropic_api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY"))
    policy_file: Path | None = None
    prompt_label: str = "production"
    approval_ttl_seconds: int | None = Field(default=None, gt=0, description="Pending approvals expire after this.")
    max_run_cost_usd: Decimal | None = Field(default=None, gt=0, description="Hard model-cost limit per run (off).")
    daily_cost_warning_usd: Decimal | None = Field(default=None, gt=0)
    allow_self_approval: bool = Field(
        default=False, description="HTTP service: may a principal decide approvals of runs it requested itself?"
    )
    logfire_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SIGNOFF_LOGFIRE_TOKEN", "LOGFIRE_TOKEN")
    )

    @field_validator("model")
    @classmethod
    def _known_model_family(cls, value: str) -> str:
        if value != OFFLINE_MODEL and not value.startswith("anthropic:"):
            raise ValueError(f"model {value!r} is not supported: use 'anthropic:<model id>' or {OFFLINE_MODEL!r}")
        return value

    @field_validator("anthropic_api_key", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the default SQLite file under `data_dir`."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'signoff.db'}"

    @property
    def uses_offline_model(self) -> bool:
        """The offline scripted model runs when no key is configured or it is asked for by name."""
        return self.model == OFFLINE_MODEL or self.anthropic_api_key is None

    @property
    def ledger_spool_path(self) -> Path:
        """Where ledger rows wait when the database cannot take them."""
        return self.data_dir / "ledger-spool.jsonl"

    def runner_settings(self) -> RunnerSettings:
        """The runner's limits from these settings."""
        return RunnerSettings(
            approval_ttl=None if self.approval_ttl_seconds is None else timedelta(seconds=self.approval_ttl_seconds),
            max_run_cost_usd=self.max_run_cost_usd,
        )
