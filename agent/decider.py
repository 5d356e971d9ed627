"""Asks the policy engine about one call, after gathering the facts the rules need.

Shared by the guard (calls the model makes), the approval service (edited arguments are checked again)
and `signoff policy check` (a dry run), so the three can never disagree about the same call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent.store import audit as audit_store
from agent.store.engine import SessionFactory
from policies import CallRecord, Decision, PolicyContext, PolicyEngine, ToolCallRequest
from tools.registry import ToolRegistry

__all__ = ["CallDecider", "KnownRecipientsLookup"]

KnownRecipientsLookup = Callable[[Sequence[str]], Awaitable[set[str]]]
"""Which of these email addresses are already contacts in the CRM (for the outbound-email rule)."""


@dataclass(kw_only=True)
class CallDecider:
    """Policy decisions with the run's spend, recent calls and known recipients filled in."""

    registry: ToolRegistry
    policy: PolicyEngine
    session_factory: SessionFactory
    known_recipients: KnownRecipientsLookup | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def context_for(
        self, tool_name: str, args: Mapping[str, Any], *, run_id: str, excluding_tool_call_id: str | None = None
    ) -> PolicyContext:
        """The facts about `run_id` that a decision on this call may use.

        `excluding_tool_call_id` leaves one call out of the run's spend: an edited approval is checked
        as a replacement of the call it edits, not in addition to it.
        """
        now = self.clock()
        async with self.session_factory() as session:
            spend = await audit_store.run_spend_usd(
                session, run_id=run_id, excluding_tool_call_id=excluding_tool_call_id
            )
            recent = await audit_store.recent_tool_calls(session, since=now - self.policy.lookback)
        spec = self.registry.get(tool_name)
        recipients = spec.recipients(args) if spec is not None else []
        known: frozenset[str] = frozenset()
        if recipients and self.known_recipients is not None:
            known = frozenset(address.lower() for address in await self.known_recipients(recipients))
        return PolicyContext(
            run_id=run_id,
            now=now,
            run_spend_usd=spend,
            recent_calls=tuple(
                CallRecord(
                    tool_name=row.tool_name,
                    at=row.requested_at,
                    items=row.items,
                    estimated_cost_usd=row.estimated_cost_usd,
                )
                for row in recent
                if row.tool_call_id != excluding_tool_call_id or row.run_id != run_id
            ),
            known_recipients=known,
            available_tools=frozenset(self.registry.names()),
        )

    async def decide(
        self, tool_name: str, args: Mapping[str, Any], *, run_id: str, excluding_tool_call_id: str | None = None
    ) -> Decision:
        """The policy's decision on calling `tool_name` with validated (JSON-shaped) `args` in `run_id`."""
        context = await self.context_for(tool_name, args, run_id=run_id, excluding_tool_call_id=excluding_tool_call_id)
        request = ToolCallRequest(tool_name=tool_name, spec=self.registry.get(tool_name), args=args)
        return self.policy.evaluate(request, context)
