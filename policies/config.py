"""The policy configuration: a TOML file validated by pydantic, with safe defaults and a stable version.

Every option is documented in `default_policy.toml`, which loads to exactly the defaults. A missing
file, a syntax error, an unknown option or a bad value is a `PolicyConfigError` naming the file and
the option; nothing falls back silently to the defaults once a file was asked for.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from signoff.policies.rules import (
    DEFAULT_MAX_CONVERSATION_SPEND_USD,
    DEFAULT_MAX_DAILY_SPEND_USD,
    DEFAULT_MAX_ITEMS_WITHOUT_APPROVAL,
    DEFAULT_MAX_REQUESTER_DAILY_SPEND_USD,
    DEFAULT_MAX_RUN_SPEND_USD,
    RULESET_VERSION,
    WILDCARD_TOOL,
)
from signoff.tools.registry import ToolSpec, canonical_json

__all__ = [
    "DEFAULT_POLICY_PATH",
    "PolicyConfig",
    "PolicyConfigError",
    "RateLimitConfig",
    "ToolPolicyConfig",
    "load_policy_config",
    "parse_policy_config",
]

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.toml")
"""The shipped, commented policy file; it loads to the same config as `PolicyConfig()`."""

# A runaway loop calling one tool over and over is the failure a default limit must stop; a person-
# supervised sales task makes a handful of calls a minute. 30 per minute per tool (all runs together)
# leaves ample room for real work and caps a loop at a few dozen side effects before a human notices.
DEFAULT_MAX_CALLS_PER_WINDOW = 30
DEFAULT_WINDOW_SECONDS = 60
# Two thirds of a requester's calls for any one run: a runaway run leaves its requester room for another.
DEFAULT_MAX_CALLS_PER_RUN = 20

# Unless configured, all requesters together may make ten times what one may: room for a team, and a
# ceiling that protects the vendor's rate limit and the budget from many runaway runs at once.
GLOBAL_CEILING_FACTOR = 10
# Approvals one run may have waiting at once: a benign task asks for a few at a time; a flood of calls
# in one response (forty emails) would bury the approver, so calls beyond this are refused instead.
DEFAULT_MAX_PENDING_APPROVALS_PER_RUN = 5

# The guard loads this much call history for every decision, so windows stay short; budgets over longer
# periods belong to spend limits, not rate limits.
MAX_WINDOW_SECONDS = 24 * 60 * 60

_CENT = Decimal("0.01")
# The first 16 hex characters (64 bits) of the digest: short enough to read in the inbox and the audit
# log, far too long to collide between the handful of configs one deployment ever has.
_VERSION_HEX_CHARS = 16


class PolicyConfigError(ValueError):
    """The policy file is missing, not TOML, or not a valid policy; the message names file and option."""


class _StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolPolicyConfig(_StrictModel):
    """`[tools.<name>]`: per-tool overrides of the tool's metadata."""

    requires_approval: bool | None = None
    """Replaces the tool's own `requires_approval` (constant or predicate) when set."""
    max_batch: Annotated[int, Field(ge=1)] | None = None
    """Lowers the tool's `max_batch`; it can never raise it."""


class RateLimitConfig(_StrictModel):
    """`[rate_limits.<name>]`: at most `max_calls` calls of the tool in any `window_seconds` per requester,
    `max_calls_per_run` per run (unset: only the requester's limit), and `global_max_calls` by all
    requesters together (unset: `GLOBAL_CEILING_FACTOR` times `max_calls`)."""

    max_calls: Annotated[int, Field(ge=1)]
    window_seconds: Annotated[int, Field(ge=1, le=MAX_WINDOW_SECONDS)]
    max_calls_per_run: Annotated[int, Field(ge=1)] | None = None
    global_max_calls: Annotated[int, Field(ge=2)] | None = None

    @model_validator(mode="after")
    def _ceilings(self) -> RateLimitConfig:
        if self.max_calls_per_run is not None and self.max_calls_per_run > self.max_calls:
            raise ValueError("max_calls_per_run must not be above max_calls (a run is one requester's)")
        if self.global_max_calls is not None and self.global_max_calls <= self.max_calls:
            # A ceiling one requester can reach would let one runaway user refuse everyone else.
            raise ValueError("global_max_calls must be above max_calls, so that no one requester exhausts it")
        return self

    @property
    def ceiling(self) -> int:
        """The global ceiling in force."""
        return self.global_max_calls if self.global_max_calls is not None else GLOBAL_CEILING_FACTOR * self.max_calls


def _default_rate_limits() -> dict[str, RateLimitConfig]:
    return {
        WILDCARD_TOOL: RateLimitConfig(
            max_calls=DEFAULT_MAX_CALLS_PER_WINDOW,
            window_seconds=DEFAULT_WINDOW_SECONDS,
            max_calls_per_run=DEFAULT_MAX_CALLS_PER_RUN,
        )
    }


class PolicyConfig(_StrictModel):
    """All policy options. `PolicyConfig()` is the safe default; see `default_policy.toml`."""

    max_run_spend_usd: Annotated[Decimal, Field(ge=0)] = DEFAULT_MAX_RUN_SPEND_USD
    max_items_without_approval: Annotated[int, Field(ge=0)] = DEFAULT_MAX_ITEMS_WITHOUT_APPROVAL
    max_conversation_spend_usd: Annotated[Decimal, Field(ge=0)] | None = DEFAULT_MAX_CONVERSATION_SPEND_USD
    max_requester_daily_spend_usd: Annotated[Decimal, Field(ge=0)] | None = DEFAULT_MAX_REQUESTER_DAILY_SPEND_USD
    max_daily_spend_usd: Annotated[Decimal, Field(ge=0)] | None = DEFAULT_MAX_DAILY_SPEND_USD
    max_pending_approvals_per_run: Annotated[int, Field(ge=1)] = DEFAULT_MAX_PENDING_APPROVALS_PER_RUN
    allowed_email_domains: tuple[str, ...] = ()
    require_approval_for_untrusted_values: bool = True
    """The provenance rule: a destructive call using a value seen only in outside data needs a person."""
    egress_findings: Literal["require_approval", "deny"] = "require_approval"
    """The egress rule: what happens when an argument sent to a third party may carry data out."""
    tools: dict[str, ToolPolicyConfig] = Field(default_factory=dict[str, ToolPolicyConfig])
    rate_limits: dict[str, RateLimitConfig] = Field(default_factory=_default_rate_limits)

    @field_validator(
        "max_run_spend_usd", "max_conversation_spend_usd", "max_requester_daily_spend_usd", "max_daily_spend_usd"
    )
    @classmethod
    def _whole_cents(cls, value: Decimal | None) -> Decimal | None:
        # Quantized so that 20, 20.0 and 20.00 are one config with one version.
        if value is None:
            return None
        if value != value.quantize(_CENT):
            raise ValueError("must be a whole number of cents, e.g. 20.00")
        return value.quantize(_CENT)

    @field_validator("allowed_email_domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        domains: set[str] = set()
        for raw in value:
            domain = raw.strip().lower()
            if not domain or "@" in domain or "." not in domain or any(c.isspace() for c in domain):
                raise ValueError(f"{raw!r} is not a domain; list domains such as 'acme.io', not addresses")
            domains.add(domain)
        # Sorted so that reordering the list is not a different policy version.
        return tuple(sorted(domains))

    @field_validator("tools", "rate_limits")
    @classmethod
    def _tool_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for tool_name in value:
            if not tool_name.strip():
                raise ValueError("tool names must not be empty")
        return value

    @property
    def version(self) -> str:
        """`sha256:` and 16 hex characters of the config and `RULESET_VERSION`; changes when either does."""
        document = {"ruleset": RULESET_VERSION, "config": self.model_dump(mode="json")}
        digest = hashlib.sha256(canonical_json(document).encode()).hexdigest()
        return f"sha256:{digest[:_VERSION_HEX_CHARS]}"

    def check_tools(self, specs: Iterable[ToolSpec]) -> None:
        """Check the per-tool options against the registered tools; `PolicyConfigError` if any is wrong.

        A `[tools.<name>]` or `[rate_limits.<name>]` table for a tool that does not exist is almost
        certainly a typo that would silently disable the option, and a `max_batch` above a tool's own
        hard limit (or on a tool without a batch argument) would mislead whoever reads the file.
        """
        by_name = {spec.name: spec for spec in specs}
        known = ", ".join(sorted(by_name)) or "(none)"
        problems: list[str] = []
        for tool_name, options in sorted(self.tools.items()):
            spec = by_name.get(tool_name)
            if spec is None:
                problems.append(f"tools.{tool_name}: no tool named {tool_name!r}; registered tools: {known}")
                continue
            if options.max_batch is None:
                continue
            if spec.batch_arg is None:
                problems.append(f"tools.{tool_name}.max_batch: {tool_name!r} takes no batch, so max_batch cannot apply")
            elif spec.max_batch is not None and options.max_batch > spec.max_batch:
                problems.append(
                    f"tools.{tool_name}.max_batch: {options.max_batch} is above the tool's own hard limit of "
                    f"{spec.max_batch}; the config may only lower it"
                )
        for tool_name in sorted(self.rate_limits):
            if tool_name != WILDCARD_TOOL and tool_name not in by_name:
                problems.append(f"rate_limits.{tool_name}: no tool named {tool_name!r}; registered tools: {known}")
        if problems:
            raise PolicyConfigError("policy config does not match the registered tools:\n  " + "\n  ".join(problems))


def _describe(error: ErrorDetails) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{location}: unknown option {error['loc'][-1]!r} (every option is listed in default_policy.toml)"
    return f"{location}: {error['msg']}"


def parse_policy_config(text: str, *, source: str = "<string>") -> PolicyConfig:
    """Parse and validate policy TOML; `PolicyConfigError` names `source` and every bad option."""
    try:
        # Decimal floats keep money exact: 0.1 in the file is Decimal("0.1"), not 0.1000000000000000055.
        document = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as error:
        raise PolicyConfigError(f"policy config {source} is not valid TOML: {error}") from None
    try:
        return PolicyConfig.model_validate(document)
    except ValidationError as error:
        lines = "\n  ".join(_describe(detail) for detail in error.errors(include_url=False))
        raise PolicyConfigError(f"policy config {source} is invalid:\n  {lines}") from None


def load_policy_config(path: Path | None, *, tools: Iterable[ToolSpec] | None = None) -> PolicyConfig:
    """Load the policy file at `path`, or the safe defaults when `path` is None.

    With `tools`, the per-tool options are also checked against them (`PolicyConfig.check_tools`), so
    that e.g. a `max_batch` above a tool's hard limit is rejected at load.
    """
    if path is None:
        config = PolicyConfig()
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PolicyConfigError(f"policy config file not found: {str(path)!r}") from None
        except OSError as error:
            raise PolicyConfigError(f"policy config {str(path)!r} cannot be read: {error.strerror}") from None
        config = parse_policy_config(text, source=repr(str(path)))
    if tools is not None:
        config.check_tools(tools)
    return config
