"""Data access for approvals. Every state change is a conditional update on the current state.

Legal transitions: pending -> approved | denied | expired; approved -> executing;
executing -> executed | failed | unknown. A function returns whether its update took effect, so two
deciders, two resumers or two workers racing for the same row see exactly one winner.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store.engine import rows_affected
from signoff.agent.store.tables import ApprovalRow, ApprovalState

__all__ = [
    "any_due",
    "claim_for_execution",
    "count_pending",
    "decide",
    "expire_due",
    "finish_execution",
    "get_approval",
    "get_approval_for_call",
    "list_approvals",
    "mark_stale_executions_unknown",
]


async def get_approval(session: AsyncSession, *, approval_id: str) -> ApprovalRow | None:
    """The approval with that id, or None."""
    return await session.get(ApprovalRow, approval_id)


async def get_approval_for_call(session: AsyncSession, *, run_id: str, tool_call_id: str) -> ApprovalRow | None:
    """The approval bound to one tool call of one run, or None."""
    result = await session.execute(
        select(ApprovalRow).where(ApprovalRow.run_id == run_id, ApprovalRow.tool_call_id == tool_call_id)
    )
    return result.scalar_one_or_none()


async def list_approvals(
    session: AsyncSession,
    *,
    states: Sequence[ApprovalState] | None = None,
    run_id: str | None = None,
    tool_name: str | None = None,
    limit: int = 100,
    after: tuple[datetime, str] | None = None,
) -> list[ApprovalRow]:
    """Approvals, oldest first, filtered by state, run and tool; `after` (created_at, approval_id) pages on."""
    query = select(ApprovalRow).order_by(ApprovalRow.created_at, ApprovalRow.approval_id).limit(limit)
    if after is not None:
        created_at, approval_id = after
        query = query.where(
            or_(
                ApprovalRow.created_at > created_at,
                and_(ApprovalRow.created_at == created_at, ApprovalRow.approval_id > approval_id),
            )
        )
    if states:
        query = query.where(ApprovalRow.state.in_(states))
    if run_id is not None:
        query = query.where(ApprovalRow.run_id == run_id)
    if tool_name is not None:
        query = query.where(ApprovalRow.tool_name == tool_name)
    return list((await session.execute(query)).scalars())


async def count_pending(session: AsyncSession, *, run_id: str) -> int:
    """How many approvals of this run still wait for a person."""
    result = await session.execute(
        select(func.count())
        .select_from(ApprovalRow)
        .where(ApprovalRow.run_id == run_id, ApprovalRow.state == "pending")
    )
    return int(result.scalar_one())


async def decide(
    session: AsyncSession,
    *,
    approval_id: str,
    new_state: ApprovalState,
    decided_by: str,
    decided_at: datetime,
    note: str | None,
    approved_args_json: str | None = None,
    digest: str | None = None,
    policy_version: str | None = None,
    summary: str | None = None,
) -> bool:
    """pending -> approved | denied, only while pending and not past its expiry.

    An approval re-binds `digest` (and `policy_version`) to the arguments and policy that checked it."""
    assert new_state in ("approved", "denied"), new_state
    values: dict[str, object] = {
        "state": new_state,
        "decided_by": decided_by,
        "decided_at": decided_at,
        "decision_note": note,
    }
    if approved_args_json is not None:
        values["approved_args_json"] = approved_args_json
    if digest is not None:
        values["digest"] = digest
    if policy_version is not None:
        values["policy_version"] = policy_version
    if summary is not None:
        values["summary"] = summary
    result = await session.execute(
        update(ApprovalRow)
        .where(
            ApprovalRow.approval_id == approval_id,
            ApprovalRow.state == "pending",
            (ApprovalRow.expires_at.is_(None)) | (ApprovalRow.expires_at > decided_at),
        )
        .values(**values)
    )
    return rows_affected(result) == 1


def _due_condition(now: datetime, run_id: str | None) -> ColumnElement[bool]:
    condition = and_(ApprovalRow.state == "pending", ApprovalRow.expires_at.is_not(None), ApprovalRow.expires_at <= now)
    return condition if run_id is None else and_(condition, ApprovalRow.run_id == run_id)


async def any_due(session: AsyncSession, *, now: datetime) -> bool:
    """Whether some pending approval is past its expiry: one indexed probe, so callers can skip the write."""
    probe = select(ApprovalRow.approval_id).where(_due_condition(now, None)).limit(1)
    return (await session.execute(probe)).first() is not None


async def expire_due(session: AsyncSession, *, now: datetime, run_id: str | None = None) -> list[str]:
    """pending -> expired for approvals past their expiry; returns the run ids affected."""
    condition = _due_condition(now, run_id)
    run_ids = list((await session.execute(select(ApprovalRow.run_id).where(condition).distinct())).scalars())
    if run_ids:
        await session.execute(update(ApprovalRow).where(condition).values(state="expired", decided_at=now))
    return run_ids


async def claim_for_execution(session: AsyncSession, *, approval_id: str, lease_expires_at: datetime) -> bool:
    """approved -> executing. Exactly one caller wins; the lease bounds how long execution may take."""
    result = await session.execute(
        update(ApprovalRow)
        .where(ApprovalRow.approval_id == approval_id, ApprovalRow.state == "approved")
        .values(state="executing", execution_lease_expires_at=lease_expires_at)
    )
    return rows_affected(result) == 1


async def finish_execution(
    session: AsyncSession,
    *,
    approval_id: str,
    new_state: ApprovalState,
    finished_at: datetime,
    result_json: str | None = None,
    error: str | None = None,
) -> bool:
    """executing -> executed | failed | unknown (a timeout: the call may or may not have had its effect)."""
    assert new_state in ("executed", "failed", "unknown"), new_state
    result = await session.execute(
        update(ApprovalRow)
        .where(ApprovalRow.approval_id == approval_id, ApprovalRow.state == "executing")
        .values(state=new_state, finished_at=finished_at, result_json=result_json, error=error)
    )
    return rows_affected(result) == 1


async def mark_stale_executions_unknown(
    session: AsyncSession,
    *,
    now: datetime,
    approval_id: str | None = None,
    force: bool = False,
    reason: str = "the process executing this call stopped before recording its outcome",
) -> list[ApprovalRow]:
    """executing -> unknown where the execution lease ran out (the executing process died), or at once
    with `force` (its own process knows it stopped executing it).

    Such a call may or may not have had its effect, so it is never retried automatically.
    """
    condition = ApprovalRow.state == "executing"
    if not force:
        condition = and_(condition, ApprovalRow.execution_lease_expires_at <= now)
    if approval_id is not None:
        condition = and_(condition, ApprovalRow.approval_id == approval_id)
    stale = list((await session.execute(select(ApprovalRow).where(condition))).scalars())
    if stale:
        await session.execute(
            update(ApprovalRow).where(condition).values(state="unknown", finished_at=now, error=reason)
        )
        for row in stale:
            await session.refresh(row)
    return stale
