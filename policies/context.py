"""What a policy may know besides the call itself. Gathered by the guard, so that rules stay pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from signoff.tools.registry import ToolSpec

__all__ = ["CallRecord", "CumulativeSpend", "PolicyContext", "ToolCallRequest"]


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
    run_id: str = ""
    requested_by: str = ""


@dataclass(frozen=True, kw_only=True)
class CumulativeSpend:
    """Spend so far beyond one run, model and provider together (before the call being decided).

    Model spend is the ledger's priced requests; provider spend is the estimated cost of calls that ran,
    run or wait for approval. Days are UTC days.
    """

    conversation_usd: Decimal = Decimal("0")
    requester_today_usd: Decimal = Decimal("0")
    everyone_today_usd: Decimal = Decimal("0")


@dataclass(frozen=True, kw_only=True)
class PolicyContext:
    """Facts about the run and recent history that rules may consult.

    `run_spend_usd` is the estimated external spend of calls this run already ran or had approved;
    `cumulative_spend` the spend of the conversation, the requester today and everyone today.
    `pending_approvals` counts this run's approvals still waiting for a person. `recent_calls` holds
    calls of this tool (any run, any requester) since `now - lookback`, where the engine says how far
    back it needs to look; `requested_by` is who started this run. `known_recipients` holds those of
    this call's recipient addresses that are already contacts in the CRM. `available_tools` names the
    registered tools, so that a denial of an unknown tool can tell the model what it may call instead.

    Provenance, for destructive calls (the guard leaves both empty for other calls): `untrusted_values`
    maps each email address, domain and id found in this conversation's untrusted tool outputs (see
    `ToolSpec.untrusted_output`) to the name of a tool that returned it; `trusted_text` is what the user
    wrote, the conversation's task texts and contexts.

    Egress, for calls of tools that send arguments to a third party (`ToolSpec.egress`; empty for
    others): `untrusted_fingerprints` maps the fingerprints (`policies.taint`) of the conversation's
    untrusted tool outputs to a tool that returned them, and `trusted_fingerprints` are those of what the
    user wrote; `discovered_contacts` are the addresses tools marked `returns_contacts` returned in the
    conversation; `earlier_egress` holds the strings earlier calls in the conversation sent out through
    `filter` egress arguments, oldest first (a value split over calls joins up with them); and
    `known_recipients` also covers the call's `contacts` egress addresses.
    """

    run_id: str
    now: datetime
    requested_by: str = ""
    run_spend_usd: Decimal = Decimal("0")
    cumulative_spend: CumulativeSpend = field(default_factory=CumulativeSpend)
    pending_approvals: int = 0
    recent_calls: tuple[CallRecord, ...] = ()
    known_recipients: frozenset[str] = field(default_factory=frozenset[str])
    available_tools: frozenset[str] = field(default_factory=frozenset[str])
    untrusted_values: Mapping[str, str] = field(default_factory=dict[str, str])
    trusted_text: str = ""
    untrusted_fingerprints: Mapping[str, str] = field(default_factory=dict[str, str])
    trusted_fingerprints: frozenset[str] = field(default_factory=frozenset[str])
    discovered_contacts: frozenset[str] = field(default_factory=frozenset[str])
    earlier_egress: tuple[str, ...] = ()
