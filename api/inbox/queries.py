"""What the inbox pages read: approvals with the runs they belong to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.attention import AttentionCall, attention_of_runs, run_statuses
from signoff.agent.budgets import SpendStanding
from signoff.agent.runtime import Runtime
from signoff.agent.store import approvals as approval_store
from signoff.agent.store.tables import APPROVAL_STATES, ApprovalRow, ApprovalState, RunRow, ToolCallRow
from signoff.api.approval_views import approval_displays, run_detail, spend_standings_of_runs
from signoff.api.display import ApprovalDisplay

__all__ = [
    "HISTORY_STATES",
    "CallToCheck",
    "InboxItem",
    "calls_to_check",
    "history_items",
    "inbox_item",
    "pending_items",
    "run_for_approvers",
]

# Everything that is no longer waiting for a person: decided, expired, and what became of approved calls.
HISTORY_STATES: tuple[ApprovalState, ...] = tuple(state for state in APPROVAL_STATES if state != "pending")


@dataclass(frozen=True, kw_only=True)
class InboxItem:
    """One approval, the run that asked for it (None only if the run row is gone), and the display a person
    reads it through: warnings, neutralised summary and arguments, domains (api/display.py)."""

    approval: ApprovalRow
    run: RunRow | None
    display: ApprovalDisplay
    spend: Sequence[SpendStanding] = ()
    """The run's standing against every spend limit (read for the detail page only)."""


async def _runs_by_id(session: AsyncSession, run_ids: Iterable[str]) -> dict[str, RunRow]:
    wanted = sorted(set(run_ids))
    if not wanted:
        return {}
    rows = (await session.execute(select(RunRow).where(RunRow.run_id.in_(wanted)))).scalars()
    return {row.run_id: row for row in rows}


async def _with_runs(runtime: Runtime, approvals: list[ApprovalRow]) -> list[InboxItem]:
    displays = await approval_displays(runtime, approvals)  # before the session: the CRM may share the database
    async with runtime.session_factory() as session:
        runs = await _runs_by_id(session, (row.run_id for row in approvals))
    return [
        InboxItem(approval=row, run=runs.get(row.run_id), display=display)
        for row, display in zip(approvals, displays, strict=True)
    ]


async def _expire_due(runtime: Runtime) -> None:
    async with runtime.session_factory.begin() as session:
        await approval_store.expire_due(session, now=runtime.approvals.clock())


async def pending_items(runtime: Runtime, *, limit: int) -> list[InboxItem]:
    """Pending approvals, oldest first (due ones are expired first), at most `limit`."""
    approvals = await runtime.approvals.list(states=["pending"], limit=limit)
    return await _with_runs(runtime, approvals)


async def history_items(runtime: Runtime, *, limit: int) -> list[InboxItem]:
    """Approvals no longer pending, newest first, at most `limit`."""
    await _expire_due(runtime)
    async with runtime.session_factory() as session:
        query = (
            select(ApprovalRow)
            .where(ApprovalRow.state.in_(HISTORY_STATES))
            .order_by(ApprovalRow.created_at.desc(), ApprovalRow.approval_id.desc())
            .limit(limit)
        )
        approvals = list((await session.execute(query)).scalars())
    return await _with_runs(runtime, approvals)


async def inbox_item(runtime: Runtime, *, approval_id: str) -> InboxItem:
    """One approval with its run; `ApprovalNotFound` when there is none."""
    await _expire_due(runtime)
    approval = await runtime.approvals.get(approval_id)
    [item] = await _with_runs(runtime, [approval])
    standings = await spend_standings_of_runs(runtime, [approval.run_id])
    return replace(item, spend=standings.get(approval.run_id, ()))


async def run_for_approvers(runtime: Runtime, *, run_id: str) -> dict[str, Any] | None:
    """The run in full (`approval_views.run_detail`) if it ever asked for an approval or has a call whose
    outcome is unknown (a person must check it); approvers see no other runs."""
    async with runtime.session_factory() as session:
        run = await session.get(RunRow, run_id)
        if run is None:
            return None
        if not await approval_store.list_approvals(session, run_id=run_id, limit=1):
            unknown = await session.scalar(
                select(ToolCallRow.audit_id)
                .where(ToolCallRow.run_id == run_id, ToolCallRow.status == "unknown")
                .limit(1)
            )
            if unknown is None:
                return None
    return await run_detail(runtime, run)


@dataclass(frozen=True, kw_only=True)
class CallToCheck:
    """A call whose outcome is unknown and that nobody has checked yet, with its run."""

    run: RunRow
    call: AttentionCall


async def calls_to_check(runtime: Runtime, *, limit: int) -> list[CallToCheck]:
    """Unknown calls nobody has resolved, newest run first, from at most `limit` runs with unknown calls."""
    async with runtime.session_factory() as session:
        newest = func.max(ToolCallRow.audit_id)
        run_ids = (
            await session.scalars(
                select(ToolCallRow.run_id)
                .where(ToolCallRow.status == "unknown")
                .group_by(ToolCallRow.run_id)
                .order_by(newest.desc())
                .limit(limit)
            )
        ).all()
        runs = await _runs_by_id(session, run_ids)
        attention = await attention_of_runs(session, statuses=run_statuses(runs.values()), registry=runtime.registry)
    return [
        CallToCheck(run=runs[run_id], call=call)
        for run_id in run_ids
        if run_id in runs
        for item in attention[run_id]
        if item.kind == "unknown_outcome"
        for call in item.calls
    ]
