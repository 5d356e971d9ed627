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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, String, Text, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store import spend as spend_store
from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import RunRow, ToolCallRow
from signoff.policies import CallRecord, CumulativeSpend, Decision, PolicyContext, PolicyEngine, ToolCallRequest
from signoff.policies.provenance import strings_in, values_in
from signoff.policies.taint import fingerprints, text_values
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
        # Enrichment targets are checked against the CRM the same way (the egress rule's `contacts`).
        recipients = [*spec.recipients(args), *spec.egress_contacts(args)] if spec is not None else []
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
        run = await session.get(RunRow, run_id)
        requested_by = run.requested_by if run is not None else ""
        cumulative = CumulativeSpend()
        if run is not None and spec is not None and spec.unit_cost_usd > 0:
            # Only a call that costs something can cross a spend limit: free calls skip the two sums.
            so_far = await spend_store.spend_so_far(
                session,
                conversation_id=run.conversation_id,
                requested_by=requested_by,
                now=now,
                excluding=None if excluding_tool_call_id is None else (run_id, excluding_tool_call_id),
            )
            cumulative = CumulativeSpend(
                conversation_usd=so_far.conversation_usd,
                requester_today_usd=so_far.requester_today_usd,
                everyone_today_usd=so_far.everyone_today_usd,
            )
        pending = await approval_store.count_pending(session, run_id=run_id)
        if excluding_tool_call_id is not None:
            # Deciding on a waiting call (an approval, an edit) re-checks that call: it is not one more.
            own = await approval_store.get_approval_for_call(
                session, run_id=run_id, tool_call_id=excluding_tool_call_id
            )
            if own is not None and own.state == "pending":
                pending -= 1
        facts = _ConversationFacts()
        if spec is not None and (spec.destructive or spec.egress):
            facts = await _conversation_facts(
                session,
                run_id=run_id,
                registry=self.registry,
                fingerprint_outputs=bool(spec.egress),
                excluding_tool_call_id=excluding_tool_call_id,
            )

        return PolicyContext(
            run_id=run_id,
            now=now,
            requested_by=requested_by,
            run_spend_usd=spend,
            cumulative_spend=cumulative,
            pending_approvals=pending,
            recent_calls=tuple(
                CallRecord(
                    tool_name=tool_name,
                    at=at,
                    items=items,
                    estimated_cost_usd=cost,
                    run_id=call_run_id,
                    requested_by=call_requester,
                )
                for at, items, cost, call_run_id, call_requester in recent
            ),
            known_recipients=known_recipients,
            available_tools=frozenset(self.registry.names()),
            untrusted_values=facts.untrusted_values if spec is not None and spec.destructive else {},
            trusted_text=facts.trusted_text,
            untrusted_fingerprints=facts.untrusted_fingerprints,
            trusted_fingerprints=facts.trusted_fingerprints,
            discovered_contacts=frozenset(facts.discovered_contacts),
            earlier_egress=tuple(facts.earlier_egress),
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


# Characters of outside data an egress decision fingerprints at most (a few replies' worth).
_FINGERPRINT_BUDGET_CHARS = 200_000


@dataclass
class _ConversationFacts:
    """What provenance and egress decisions know about the conversation (see `PolicyContext`)."""

    untrusted_values: dict[str, str] = field(default_factory=dict[str, str])
    trusted_text: str = ""
    untrusted_fingerprints: dict[str, str] = field(default_factory=dict[str, str])
    trusted_fingerprints: frozenset[str] = frozenset()
    discovered_contacts: set[str] = field(default_factory=set[str])
    earlier_egress: list[str] = field(default_factory=list[str])


async def _conversation_facts(
    session: AsyncSession,
    *,
    run_id: str,
    registry: ToolRegistry,
    fingerprint_outputs: bool,
    excluding_tool_call_id: str | None,
) -> _ConversationFacts:
    """The facts of the conversation `run_id` belongs to, for a decision on a destructive or egress call.

    The whole conversation counts, not only this run: a follow-up run's history holds the earlier runs'
    tool outputs, and the earlier tasks are the user's words too. One query (a UNION ALL over the runs'
    conversation index and the audit rows' run index) reads every side: the tasks and contexts, the
    outputs of tools with untrusted output or that return contacts, and the arguments earlier calls sent
    out. `fingerprint_outputs` (egress calls only) also fingerprints the outputs, which costs more.
    """
    untrusted_tools = sorted(tool.name for tool in registry if tool.untrusted_output)
    contact_tools = sorted(tool.name for tool in registry if tool.returns_contacts)
    egress_tools = sorted(tool.name for tool in registry if any(e.holds == "filter" for e in tool.egress))
    conversation = select(RunRow.conversation_id).where(RunRow.run_id == run_id).scalar_subquery()
    parts: list[Select[Any, Any, Any, Any]] = [
        select(
            literal_column("'task'", String).label("kind"),
            RunRow.task_text.label("body"),
            RunRow.context_json.label("extra"),
            RunRow.created_at.label("at"),
        ).where(RunRow.conversation_id == conversation)
    ]
    in_conversation = (RunRow.run_id == ToolCallRow.run_id) & (RunRow.conversation_id == conversation)
    if untrusted_tools or contact_tools:
        parts.append(
            select(
                literal_column("'output'", String).label("kind"),
                ToolCallRow.result_json.label("body"),
                ToolCallRow.tool_name.cast(Text).label("extra"),
                ToolCallRow.requested_at.label("at"),
            )
            .join(RunRow, in_conversation)
            .where(ToolCallRow.tool_name.in_([*untrusted_tools, *contact_tools]), ToolCallRow.result_json.is_not(None))
        )
    if fingerprint_outputs and egress_tools:
        sent = select(
            literal_column("'sent'", String).label("kind"),
            ToolCallRow.args_json.label("body"),
            ToolCallRow.tool_name.cast(Text).label("extra"),
            ToolCallRow.requested_at.label("at"),
        ).join(RunRow, in_conversation)
        sent = sent.where(ToolCallRow.tool_name.in_(egress_tools))
        if excluding_tool_call_id is not None:
            # An edited call replaces the one it edits: what that one would have sent is not history.
            sent = sent.where(~((ToolCallRow.run_id == run_id) & (ToolCallRow.tool_call_id == excluding_tool_call_id)))
        parts.append(sent)
    query = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    rows = (await session.execute(select(query).order_by(query.c.at))).all()
    facts = _ConversationFacts()
    trusted: list[str] = []
    untrusted = set(untrusted_tools)
    to_fingerprint: list[tuple[str, object]] = []
    for kind, body, extra, _at in rows:
        if kind == "task":
            trusted.append(str(body))
            if extra:
                trusted.extend(strings_in(_json_or_text(str(extra))))
        elif kind == "output":
            value = _json_or_text(str(body))
            tool_name = str(extra)
            if tool_name in contact_tools:
                facts.discovered_contacts.update(_contact_emails(value))
            if tool_name not in untrusted:
                continue
            for found in sorted(values_in(value)):
                facts.untrusted_values.setdefault(found, tool_name)
            if fingerprint_outputs:
                to_fingerprint.append((tool_name, value))
        else:
            spec = registry.get(str(extra))
            args = _json_or_text(str(body))
            if spec is not None and isinstance(args, dict):
                for egress in spec.egress:
                    if egress.holds == "filter":
                        facts.earlier_egress.extend(text_values(args.get(egress.arg)))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    facts.trusted_text = "\n".join(trusted)
    if fingerprint_outputs:
        facts.trusted_fingerprints = frozenset(fingerprints(facts.trusted_text))
        # Newest first, up to a budget: the fingerprints only explain an egress finding (the rule's
        # allow-list of the user's words decides), so a long conversation must not make every search slow.
        budget = _FINGERPRINT_BUDGET_CHARS
        for tool_name, value in reversed(to_fingerprint):
            for text in strings_in(value):
                if budget <= 0:
                    return facts
                budget -= len(text)
                for found in fingerprints(text):
                    facts.untrusted_fingerprints.setdefault(found, tool_name)
    return facts


def _contact_emails(value: object) -> set[str]:
    """The `email` values of the mappings in a tool's output (the people a discovery tool returned)."""
    found: set[str] = set()
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            email = item.get("email")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            if isinstance(email, str):
                found.add(email.lower())
            stack.extend(item.values())  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        elif isinstance(item, list):
            stack.extend(item)  # pyright: ignore[reportUnknownArgumentType]
    return found


def _json_or_text(raw: str) -> object:
    """Stored JSON parsed, so escapes (a quoted newline) do not glue characters onto values; the raw
    text when it is not JSON, which is still scanned rather than trusted blindly."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw
