"""What the inbox pages read: approvals with the runs they belong to, and the principal behind a session."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.budgets import SpendStanding
from signoff.agent.runtime import Runtime
from signoff.agent.store import api_keys as key_store
from signoff.agent.store import approvals as approval_store
from signoff.agent.store.tables import APPROVAL_STATES, ApprovalRow, ApprovalState, RunRow
from signoff.api.approval_views import approval_displays, run_detail, spend_standings_of_runs
from signoff.api.display import ApprovalDisplay
from signoff.api.keys import Principal

__all__ = [
    "HISTORY_STATES",
    "InboxItem",
    "active_principal",
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
    """The run in full (`approval_views.run_detail`) if it ever asked for an approval; approvers see no other runs."""
    async with runtime.session_factory() as session:
        run = await session.get(RunRow, run_id)
        if run is None or not await approval_store.list_approvals(session, run_id=run_id, limit=1):
            return None
    return await run_detail(runtime, run)


async def active_principal(runtime: Runtime, *, name: str) -> Principal | None:
    """The principal of that name while its key is active; None once it is revoked or gone."""
    async with runtime.session_factory() as session:
        row = await key_store.get_key_by_name(session, name=name)
    if row is None or row.revoked_at is not None:
        return None
    return Principal(name=row.name, roles=frozenset(row.roles.split(",")))
