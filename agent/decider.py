"""Asks the policy engine about one call, after gathering the facts the rules need.

Shared by the guard (calls the model makes), the approval service (edited arguments are checked again)
and `signoff policy check` (a dry run), so the three can never disagree about the same call.

For destructive calls the facts include provenance: which values (addresses, domains, ids) the
conversation's untrusted tool outputs contained, and what the user wrote. Both come from rows that exist
anyway (the audit rows' `result_json`, the runs' task and context), read in one indexed query inside the
decision's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, Text, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store import audit as audit_store
from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import RunRow, ToolCallRow
from signoff.policies import CallRecord, Decision, PolicyContext, PolicyEngine, ToolCallRequest
from signoff.policies.provenance import strings_in, values_in
from signoff.tools.registry import ToolRegistry

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
        Provenance (untrusted values, trusted text) is gathered for destructive tools only: the rule that
        uses it judges nothing else, and reads should not pay for it.
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
        spec = self.registry.get(tool_name)
        untrusted_values: dict[str, str] = {}
        trusted_text = ""
        if spec is not None and spec.destructive:
            untrusted_tools = [tool.name for tool in self.registry if tool.untrusted_output]
            untrusted_values, trusted_text = await _provenance(session, run_id=run_id, untrusted_tools=untrusted_tools)

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
            untrusted_values=untrusted_values,
            trusted_text=trusted_text,
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


async def _provenance(
    session: AsyncSession, *, run_id: str, untrusted_tools: Collection[str]
) -> tuple[dict[str, str], str]:
    """(value -> tool that returned it, trusted text) for the conversation `run_id` belongs to.

    The whole conversation counts, not only this run: a follow-up run's history holds the earlier runs'
    tool outputs, and the earlier tasks are the user's words too. One query (a UNION ALL over the runs'
    conversation index and the audit rows' run index) reads both sides.
    """
    conversation = select(RunRow.conversation_id).where(RunRow.run_id == run_id).scalar_subquery()
    tasks = select(
        literal_column("'task'", String).label("kind"),
        RunRow.task_text.label("body"),
        RunRow.context_json.label("extra"),
    ).where(RunRow.conversation_id == conversation)
    query = tasks
    if untrusted_tools:
        outputs = (
            select(
                literal_column("'output'", String).label("kind"),
                ToolCallRow.result_json.label("body"),
                ToolCallRow.tool_name.cast(Text).label("extra"),
            )
            .join(RunRow, RunRow.run_id == ToolCallRow.run_id)
            .where(
                RunRow.conversation_id == conversation,
                ToolCallRow.tool_name.in_(sorted(untrusted_tools)),
                ToolCallRow.result_json.is_not(None),
            )
        )
        query = union_all(tasks, outputs)
    untrusted: dict[str, str] = {}
    trusted: list[str] = []
    for kind, body, extra in (await session.execute(query)).all():
        if kind == "task":
            trusted.append(str(body))
            if extra:
                trusted.extend(strings_in(_json_or_text(str(extra))))
        else:
            for value in sorted(values_in(_json_or_text(str(body)))):
                untrusted.setdefault(value, str(extra))
    return untrusted, "\n".join(trusted)


def _json_or_text(raw: str) -> object:
    """Stored JSON parsed, so escapes (a quoted newline) do not glue characters onto values; the raw
    text when it is not JSON, which is still scanned rather than trusted blindly."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw
