"""What a policy may know besides the call itself. Gathered by the guard, so that rules stay pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from signoff.tools.registry import ToolSpec

__all__ = ["CallRecord", "PolicyContext", "ToolCallRequest"]


@dataclass(frozen=True, kw_only=True)
class ToolCallRequest:
    """One call to decide on: the tool's name, its spec (None when unknown) and validated arguments.

    `args` are in JSON shape (see `ToolSpec.validate_args`), so rules never see pydantic objects.
    """

    tool_name: str
    spec: ToolSpec | None
    args: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class CallRecord:
    """A call that already ran or was approved recently, for rate limits and spend totals."""

    tool_name: str
    at: datetime
    items: int
    estimated_cost_usd: Decimal


@dataclass(frozen=True, kw_only=True)
class PolicyContext:
    """Facts about the run and recent history that rules may consult.

    `run_spend_usd` is the estimated external spend of calls this run already ran or had approved.
    `recent_calls` holds calls (any run) since `now - lookback`, where the engine says how far back it
    needs to look. `known_recipients` holds those of this call's recipient addresses that are
    already contacts in the CRM. `available_tools` names the registered tools, so that a denial of an
    unknown tool can tell the model what it may call instead.

    Provenance, for destructive calls (the guard leaves both empty for other calls): `untrusted_values`
    maps each email address, domain and id found in this conversation's untrusted tool outputs (see
    `ToolSpec.untrusted_output`) to the name of a tool that returned it; `trusted_text` is what the user
    wrote, the conversation's task texts and contexts.
    """

    run_id: str
    now: datetime
    run_spend_usd: Decimal = Decimal("0")
    recent_calls: tuple[CallRecord, ...] = ()
    known_recipients: frozenset[str] = field(default_factory=frozenset[str])
    available_tools: frozenset[str] = field(default_factory=frozenset[str])
    untrusted_values: Mapping[str, str] = field(default_factory=dict[str, str])
    trusted_text: str = ""
