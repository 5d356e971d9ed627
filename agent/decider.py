"""Asks the policy engine about one call, after gathering the facts the rules need.

Shared by the guard (calls the model makes), the approval service (edited arguments are checked again)
and `signoff policy check` (a dry run), so the three can never disagree about the same call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

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

    async def known_recipients_for(self, tool_name: str, args: Mapping[str, Any]) -> frozenset[str]:
        """Which of this call's recipients are CRM contacts. Asked before any transaction is opened:
        the CRM provider may use the same database, and must not wait for a lock its caller holds."""
        spec = self.registry.get(tool_name)
        recipients = spec.recipients(args) if spec is not None else []
        if not recipients or self.known_recipients is None:
            return frozenset()
        return frozenset(address.lower() for address in await self.known_recipients(recipients))

    async def context_in(
        self,
        session: AsyncSession,
        tool_name: str,
        *,
        run_id: str,
        known_recipients: frozenset[str],
        excluding_tool_call_id: str | None = None,
    ) -> PolicyContext:
        """The facts about `run_id` that a decision on this call may use, read in `session`.

        Reading them in the same transaction that records the call (the guard does) makes the check and
        the record one step, so two concurrent calls cannot both pass a rate or spend limit on SQLite,
        where that transaction holds the write lock. `excluding_tool_call_id` leaves one call out: an
        edited approval is checked as a replacement of the call it edits, not in addition to it.
        `recent_calls` holds recent calls of this same tool only, which is what rate limits count.
        """
        await audit_store.serialize_decisions(session, tool_name=tool_name, run_id=run_id)
        now = self.clock()
        spend = await audit_store.run_spend_usd(session, run_id=run_id, excluding_tool_call_id=excluding_tool_call_id)
        recent = await audit_store.recent_tool_calls(
            session,
            since=now - self.policy.lookback,
            tool_name=tool_name,
            excluding=None if excluding_tool_call_id is None else (run_id, excluding_tool_call_id),
        )

        return PolicyContext(
            run_id=run_id,
            now=now,
            run_spend_usd=spend,
            recent_calls=tuple(
                CallRecord(tool_name=tool_name, at=at, items=items, estimated_cost_usd=cost)
                for at, items, cost in recent
            ),
            known_recipients=known_recipients,
            available_tools=frozenset(self.registry.names()),
        )

    def evaluate(self, tool_name: str, args: Mapping[str, Any], context: PolicyContext) -> Decision:
        """The policy engine's verdict (fail-closed) on this call in this context."""
        return self.policy.evaluate(
            ToolCallRequest(tool_name=tool_name, spec=self.registry.get(tool_name), args=args), context
        )

    async def decide(
        self, tool_name: str, args: Mapping[str, Any], *, run_id: str, excluding_tool_call_id: str | None = None
    ) -> Decision:
        """The policy's decision on calling `tool_name` with validated (JSON-shaped) `args` in `run_id`."""
        known = await self.known_recipients_for(tool_name, args)
        async with self.session_factory() as session:
            context = await self.context_in(
                session, tool_name, run_id=run_id, known_recipients=known, excluding_tool_call_id=excluding_tool_call_id
            )
        return self.evaluate(tool_name, args, context)
