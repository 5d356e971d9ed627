"""Settings from the environment (`SIGNOFF_*`, plus `ANTHROPIC_API_KEY`). Only api/ reads them.

`ANTHROPIC_BASE_URL` is not a setting: the Anthropic SDK reads it itself, as it does everywhere.
"""

from __future__ import annotations

import secrets
import tomllib
from datetime import timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Self, cast

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from signoff.agent.models import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MODEL_ROUTES,
    DEFAULT_REQUEST_TIMEOUT_SECONDS,
    CacheTtl,
    ClaudeOptions,
    ModelPurpose,
    validate_model_id,
)
from signoff.agent.runs import (
    DEFAULT_MAX_RUN_COST_USD,
    DEFAULT_REQUEST_LIMIT,
    DEFAULT_RUN_LEASE,
    DEFAULT_STREAM_RESTARTS,
    DEFAULT_TOOL_CALL_LIMIT,
    RunnerSettings,
)
from signoff.agent.workers import DEFAULT_DEAD_AFTER
from signoff.api.background import SHUTDOWN_GRACE_SECONDS, SWEEP_INTERVAL_SECONDS
from signoff.api.event_stream import MAX_STREAM_SECONDS

__all__ = ["DEFAULT_PACKS", "OFFLINE_MODEL", "Settings"]

OFFLINE_MODEL = "offline"

# More retries than this only hold a run up: an API that failed ten times in a row with backoff is down.
MAX_MODEL_RETRIES = 10

# Session secrets shorter than this are guessable enough to forge an inbox session; 32 characters of
# `secrets.token_urlsafe` carry 192 bits.
MIN_SESSION_SECRET_CHARS = 32

# Two requests a second, sustained, per API key: far more than a person in the inbox or a script polling
# its runs needs, and little enough that one runaway client loop cannot crowd out everyone else.
DEFAULT_RATE_LIMIT_PER_MINUTE = 120
# A client may send a quick batch (a page of approvals, then each one opened) without waiting; 30
# requests is that batch, and still only 15 seconds' worth of the sustained rate.
DEFAULT_RATE_LIMIT_BURST = 30

# Failed authentications (API and inbox sign-in) per client address: a person mistyping a key, or a script
# left with a revoked one, stays far below this; a client guessing keys is slowed to one try every 6 s.
DEFAULT_AUTH_FAILURES_PER_MINUTE = 10
DEFAULT_AUTH_FAILURE_BURST = 20

# `signoff serve` (api.http_server). A client sends its request head in one packet right after it
# connects; 10 s covers a slow link and a loaded machine, and is short enough that idle connections
# cannot pile up faster than they close.
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
# uvicorn's own default: long enough for a client's next request in a burst, short enough not to hold
# descriptors for clients that went away.
DEFAULT_KEEP_ALIVE_SECONDS = 5


@cache
def _process_session_secret() -> SecretStr:
    """One random secret for this process, used when SIGNOFF_SESSION_SECRET is unset."""
    return SecretStr(secrets.token_urlsafe(32))


DEFAULT_PACKS = ("sales",)
"""The packs a deployment enables when SIGNOFF_PACKS is not set: the reference sales pack."""


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
    request_timeout_seconds: float = Field(
        default=DEFAULT_REQUEST_TIMEOUT_SECONDS, gt=0, description="Timeout of one model request attempt."
    )
    max_retries: int = Field(
        default=DEFAULT_MAX_RETRIES,
        ge=0,
        le=MAX_MODEL_RETRIES,
        description="Retries of a model request after a 429, 529, 5xx or dropped connection (with backoff).",
    )
    prompt_caching: bool = Field(default=True, description="Cache the tools, instructions and conversation.")
    cache_ttl: CacheTtl = Field(
        default="5m", description="Cache lifetime of the tools and instructions: '5m' or '1h' (writes cost 2x)."
    )
    model_routes: dict[ModelPurpose, str] = Field(
        default_factory=dict[ModelPurpose, str],
        validate_default=True,  # so that the default routes are merged in when nothing is configured
        description=(
            'Model per kind of work, as JSON: {"planning": "anthropic:claude-sonnet-4-5", '
            '"summary": "anthropic:claude-haiku-4-5"}. Merged over the default routes '
            '({"classification": "anthropic:claude-haiku-4-5"}); kinds without a route use SIGNOFF_MODEL.'
        ),
    )
    stream_model_responses: bool = Field(default=False, description="Receive model responses as streams.")
    stream_restarts: int = Field(
        default=DEFAULT_STREAM_RESTARTS,
        ge=0,
        description="Times a streamed response that broke off mid-way is asked for again before the run fails.",
    )
    packs: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_PACKS),
        description=(
            "Tool packs to enable, comma-separated names of `signoff.tool_packs` entry points "
            "(`signoff packs` lists the installed ones). Default: sales."
        ),
    )
    pack_options: dict[str, dict[str, str]] = Field(
        default_factory=dict[str, dict[str, str]],
        description='Options per pack, as JSON: {"sales": {"key": "value"}}; each pack documents its own.',
    )
    secrets_file: Path | None = Field(
        default=None,
        description=(
            "A TOML file of pack options kept out of the environment, one table per pack "
            '([sales] hubspot_token = "..."): merged into SIGNOFF_PACK_OPTIONS (an option set in both is refused). '
            "Credentials come from here or the environment only, never from the database or the model."
        ),
    )
    guard: str | None = Field(
        default=None,
        description=(
            "`module:attribute` of a signoff.Guard on your own pydantic-ai agent: the service then serves its "
            "database, tools, policy and runs (instead of packs). The module is imported from the current directory."
        ),
    )
    policy_file: Path | None = None
    prompt_label: str = "production"
    approval_ttl_seconds: int | None = Field(default=None, gt=0, description="Pending approvals expire after this.")
    request_limit: int = Field(
        default=DEFAULT_REQUEST_LIMIT, ge=1, description="Model requests one run may make, across its pauses."
    )
    tool_call_limit: int = Field(
        default=DEFAULT_TOOL_CALL_LIMIT, ge=1, description="Tool calls one run may make, across its pauses."
    )
    shutdown_grace_seconds: float = Field(
        default=SHUTDOWN_GRACE_SECONDS,
        ge=0,
        le=600,
        description="On SIGTERM, how long runs in flight may finish before they are cancelled and handed over.",
    )
    sweep_interval_seconds: float = Field(
        default=SWEEP_INTERVAL_SECONDS,
        gt=0,
        le=60,
        description="How often the server takes over runs of dead workers and moves runs on after an expiry.",
    )
    worker_dead_after_seconds: float = Field(
        default=DEFAULT_DEAD_AFTER.total_seconds(),
        ge=2,
        le=3600,
        description="A worker whose heartbeat is older than this is dead, and its runs are taken over.",
    )
    max_run_cost_usd: Decimal = Field(
        default=DEFAULT_MAX_RUN_COST_USD,
        gt=0,
        description="Model spend (USD) at which a run stops before its next request (default 5.00).",
    )
    daily_cost_warning_usd: Decimal | None = Field(default=None, gt=0)
    allow_self_approval: bool = Field(
        default=False, description="HTTP service: may a principal decide approvals of runs it requested itself?"
    )
    session_secret: SecretStr = Field(
        default_factory=_process_session_secret,
        description=(
            "Signs the approval inbox's session cookies. If unset, a random secret is generated per process: "
            "inbox sessions then end when the process restarts and are not shared between replicas."
        ),
    )
    session_cookie_secure: bool = Field(
        default=False,
        description="Mark the inbox session cookie Secure (send it over HTTPS only); leave off for http://localhost.",
    )
    rate_limit_per_minute: int = Field(
        default=DEFAULT_RATE_LIMIT_PER_MINUTE,
        gt=0,
        description=(
            "Sustained requests per minute per API key on /v1 routes (429 with Retry-After beyond it). "
            "Counted in each process: with several replicas, each one limits separately."
        ),
    )
    rate_limit_burst: int = Field(
        default=DEFAULT_RATE_LIMIT_BURST,
        gt=0,
        description="Requests an API key may send at once before the per-minute rate applies.",
    )
    auth_failures_per_minute: int = Field(
        default=DEFAULT_AUTH_FAILURES_PER_MINUTE,
        gt=0,
        description=(
            "Sustained failed authentications per minute per client address, in the API and the inbox sign-in. "
            "Past it the client gets 429 with Retry-After, before its key is looked up; successes never count."
        ),
    )
    auth_failure_burst: int = Field(
        default=DEFAULT_AUTH_FAILURE_BURST,
        gt=0,
        description="Failed authentications a client address may make at once before the per-minute rate applies.",
    )
    http_header_timeout_seconds: float = Field(
        default=DEFAULT_HEADER_TIMEOUT_SECONDS,
        gt=0,
        le=3600,
        description=(
            "`signoff serve`: a connection that has not sent a complete request head this long after it opened "
            "(or after its previous response) is closed, idle or trickling."
        ),
    )
    http_keep_alive_seconds: int = Field(
        default=DEFAULT_KEEP_ALIVE_SECONDS,
        ge=1,
        le=3600,
        description="`signoff serve`: an idle keep-alive connection is closed after this many seconds.",
    )
    http_max_connections: int | None = Field(
        default=None,
        ge=1,
        description=(
            "`signoff serve`: open connections at most; past it the longest-idle connection is closed to make room. "
            "Default: the open-file limit (ulimit -n) less 10% (at least 128) for the database, logs and clients."
        ),
    )
    event_stream_max_seconds: float = Field(
        default=MAX_STREAM_SECONDS,
        gt=0,
        le=24 * 3600,
        description="The longest an event stream stays open; the client reconnects with Last-Event-ID.",
    )
    logfire_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SIGNOFF_LOGFIRE_TOKEN", "LOGFIRE_TOKEN")
    )

    @field_validator("packs", mode="before")
    @classmethod
    def _comma_separated_packs(cls, value: object) -> object:
        if isinstance(value, str):
            value = [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("packs")
    @classmethod
    def _at_least_one_pack(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one tool pack to enable (the agent has no tools otherwise)")
        return list(dict.fromkeys(value))

    @field_validator("guard")
    @classmethod
    def _module_and_attribute(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        module, _, attribute = value.strip().partition(":")
        if not module or not attribute.isidentifier():
            raise ValueError("must be module:attribute, e.g. refunds:guard")
        return value.strip()

    @model_validator(mode="after")
    def _guard_brings_its_own_tools(self) -> Self:
        # A guard's agent brings its tools, policy and database: settings that also name them would be ignored.
        if self.guard is not None:
            clashing = sorted({"packs", "pack_options", "policy_file", "database_url"} & self.model_fields_set)
            if clashing:
                names = ", ".join(f"SIGNOFF_{name.upper()}" for name in clashing)
                raise ValueError(f"SIGNOFF_GUARD brings its own tools, policy and database; unset {names}")
        return self

    @model_validator(mode="after")
    def _merge_secrets_file(self) -> Self:
        if self.secrets_file is not None:
            self.pack_options = merged_pack_options(self.pack_options, read_secrets_file(self.secrets_file))
        return self

    @field_validator("model")
    @classmethod
    def _known_model_family(cls, value: str) -> str:
        return validate_model_id(value)

    @field_validator("model_routes")
    @classmethod
    def _routes_name_known_models(cls, routes: dict[ModelPurpose, str]) -> dict[ModelPurpose, str]:
        for purpose, model_id in routes.items():
            try:
                validate_model_id(model_id)
            except ValueError as error:
                raise ValueError(f"route {purpose!r}: {error}") from None
        # Configured routes win; a kind with a default route keeps it unless the map names that kind.
        return {**DEFAULT_MODEL_ROUTES, **routes}

    @model_validator(mode="after")
    def _attempts_fit_in_a_run_lease(self) -> Self:
        # A run's lease is renewed between steps; a request whose attempts outlast it lets another
        # worker take over a run that is still alive.
        worst_case = (self.max_retries + 1) * self.request_timeout_seconds
        if worst_case >= DEFAULT_RUN_LEASE.total_seconds():
            raise ValueError(
                f"a model request may take {self.max_retries + 1} attempts of {self.request_timeout_seconds:g} s, "
                f"longer than a run's lease ({DEFAULT_RUN_LEASE.total_seconds():g} s): "
                "lower SIGNOFF_MAX_RETRIES or SIGNOFF_REQUEST_TIMEOUT_SECONDS"
            )
        return self

    @field_validator("anthropic_api_key", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("session_secret", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return _process_session_secret()
        return value

    @field_validator("session_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        # A "secret" error type: reports (the CLI's among them) then leave the value out.
        if len(value.get_secret_value()) < MIN_SESSION_SECRET_CHARS:
            raise PydanticCustomError(
                "session_secret_too_short",
                "must be at least {min_chars} characters; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
                {"min_chars": MIN_SESSION_SECRET_CHARS},
            )
        return value

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

    def claude_options(self) -> ClaudeOptions | None:
        """How to reach Claude, or None without a key (every model is then the offline one).

        The base URL is left to the SDK, which reads `ANTHROPIC_BASE_URL`.
        """
        if self.anthropic_api_key is None:
            return None
        return ClaudeOptions(
            api_key=self.anthropic_api_key.get_secret_value(),
            request_timeout_seconds=self.request_timeout_seconds,
            max_retries=self.max_retries,
            prompt_caching=self.prompt_caching,
            cache_ttl=self.cache_ttl,
        )

    @property
    def ledger_spool_path(self) -> Path:
        """Where ledger rows wait when the database cannot take them."""
        return self.data_dir / "ledger-spool.jsonl"

    def runner_settings(self) -> RunnerSettings:
        """The runner's limits from these settings."""
        return RunnerSettings(
            approval_ttl=None if self.approval_ttl_seconds is None else timedelta(seconds=self.approval_ttl_seconds),
            max_run_cost_usd=self.max_run_cost_usd,
            request_limit=self.request_limit,
            tool_call_limit=self.tool_call_limit,
            stream_model_responses=self.stream_model_responses,
            stream_restarts=self.stream_restarts,
            worker_dead_after=timedelta(seconds=self.worker_dead_after_seconds),
        )


def read_secrets_file(path: Path) -> dict[str, dict[str, str]]:
    """The pack options in a secrets file (TOML, one table per pack); errors name the file and the key, never
    a value."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"cannot read the secrets file {str(path)!r} ({type(error).__name__})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # tomllib's message gives the position, never the text around it.
        raise ValueError(f"the secrets file {str(path)!r} is not TOML: {error}") from None
    options: dict[str, dict[str, str]] = {}
    for pack, table in data.items():
        if not isinstance(table, dict):
            raise ValueError(f"the secrets file {str(path)!r}: {pack!r} must be a table ([{pack}]) of options")
        entries: dict[str, str] = {}
        for key, value in cast(dict[str, object], table).items():
            if not isinstance(value, str | int | float | bool):
                raise ValueError(f"the secrets file {str(path)!r}: {pack}.{key} must be a string, number or boolean")
            entries[key] = str(value).lower() if isinstance(value, bool) else str(value)
        options[pack] = entries
    return options


def merged_pack_options(
    environment: dict[str, dict[str, str]], secrets: dict[str, dict[str, str]]
) -> dict[str, dict[str, str]]:
    """The environment's pack options with the secrets file's added; an option given by both is refused
    (which one wins would be a guess)."""
    merged = {pack: dict(options) for pack, options in environment.items()}
    for pack, options in secrets.items():
        both = sorted(set(options) & set(merged.get(pack, {})))
        if both:
            raise ValueError(
                f"pack {pack!r} option(s) {', '.join(both)} are set both in SIGNOFF_PACK_OPTIONS and the secrets file"
            )
        merged.setdefault(pack, {}).update(options)
    return merged
