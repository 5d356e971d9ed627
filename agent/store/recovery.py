"""Data access for crash recovery: what dead or stopping processes left behind, and handing it on.

The runner decides what to do with these runs (take over, resume); this module only finds them and
settles the calls whose outcome nobody can know any more (they become `unknown`, never re-executed).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store import runs as run_store
from signoff.agent.store.engine import rows_affected
from signoff.agent.store.tables import ApprovalRow, RunRow

__all__ = ["StrandedRuns", "find_stranded_runs", "release_runs", "settle_stale_calls", "take_over"]


@dataclass(frozen=True)
class StrandedRuns:
    """Runs nobody may be driving: `running` lists every running run with its lease owner and lease end
    (the caller decides which owners are dead); `resumable` wait for nothing (all their approvals are
    decided or expired) but were never resumed (None when not asked for)."""

    running: list[tuple[str, str | None, datetime | None]]
    resumable: list[str] | None


async def settle_stale_calls(session: AsyncSession, *, now: datetime) -> list[str]:
    """`executing` approvals past their lease become `unknown` (with their audited calls); due approvals
    expire. Returns the runs that had an approval expire (they may move on now)."""
    stale = await approval_store.mark_stale_executions_unknown(session, now=now)
    for approval in stale:
        await audit_store.mark_call_of_approval(session, approval, status="unknown", error=approval.error)
    return await approval_store.expire_due(session, now=now)


async def find_stranded_runs(
    session: AsyncSession, *, driven_here: ColumnElement[bool], with_resumable: bool = True
) -> StrandedRuns:
    """The candidates among the runs `driven_here` selects (each runner recovers only its own runs)."""
    running = (
        await session.execute(
            select(RunRow.run_id, RunRow.lease_owner, RunRow.lease_expires_at).where(
                RunRow.status == "running", driven_here
            )
        )
    ).all()
    if not with_resumable:
        return StrandedRuns([(run_id, owner, end) for run_id, owner, end in running], None)
    # Only runs with nothing left to decide: a run waiting for a person is not recovery's business,
    # and asking each of them in turn (a busy queue holds thousands) made start-up take minutes.
    # NOT IN reads the pending approvals once; a correlated NOT EXISTS was planned on SQLite as a
    # scan of all pending approvals per run.
    undecided_runs = select(ApprovalRow.run_id).where(ApprovalRow.state == "pending")
    resumable = (
        await session.execute(
            select(RunRow.run_id).where(
                RunRow.status == "awaiting_approval",
                RunRow.run_id.not_in(undecided_runs),
                driven_here,
            )
        )
    ).scalars()
    return StrandedRuns([(run_id, owner, end) for run_id, owner, end in running], list(resumable))


async def take_over(
    session: AsyncSession,
    *,
    run_id: str,
    from_owner: str | None,
    to_owner: str,
    now: datetime,
    lease_expires_at: datetime,
    reason: str,
) -> bool:
    """Take a `running` run from a dead owner, if it is still that owner's (two recoverers: one wins).

    What the dead owner was executing may or may not have had its effect: its `executing` approvals and
    `running` audited calls become `unknown` with `reason`, never re-executed. Approved calls it had not
    started stay `approved`, for the new owner to run once.
    """
    owner = RunRow.lease_owner.is_(None) if from_owner is None else RunRow.lease_owner == from_owner
    result = await session.execute(
        update(RunRow)
        .where(RunRow.run_id == run_id, RunRow.status == "running", owner)
        .values(lease_owner=to_owner, lease_expires_at=lease_expires_at, updated_at=now)
    )
    if rows_affected(result) != 1:
        return False
    for approval in await approval_store.list_approvals(session, states=["executing"], run_id=run_id):
        await approval_store.mark_stale_executions_unknown(
            session, now=now, approval_id=approval.approval_id, force=True, reason=reason
        )
        await audit_store.mark_call_of_approval(session, approval, status="unknown", error=reason)
    await audit_store.mark_running_calls_unknown(session, run_id=run_id, error=reason)
    return True


async def release_runs(
    session: AsyncSession,
    *,
    run_ids: Sequence[str],
    worker_id: str,
    now: datetime,
    reason: str,
    harmless_tools: Collection[str] = (),
) -> int:
    """End this worker's leases on `run_ids` now, so the next recovery takes them at once.

    A call the worker was executing may or may not have had its effect: it becomes `unknown` with
    `reason`, except a call of one of `harmless_tools` (reads, which change nothing), which becomes
    `failed`, so the run may make it again. Approved calls not yet started stay `approved`. Returns how
    many runs were released (a run another worker holds is left alone).
    """
    released = 0
    for run_id in run_ids:
        if not await run_store.release_lease(session, run_id=run_id, worker_id=worker_id, now=now):
            continue
        released += 1
        for approval in await approval_store.list_approvals(session, states=["executing"], run_id=run_id):
            await approval_store.mark_stale_executions_unknown(
                session, now=now, approval_id=approval.approval_id, force=True, reason=reason
            )
        if harmless_tools:
            await audit_store.mark_running_calls_failed(
                session,
                run_id=run_id,
                tool_names=harmless_tools,
                error=f"Interrupted: {reason}. It changes nothing outside, so it may be called again.",
                now=now,
            )
        await audit_store.mark_running_calls_unknown(session, run_id=run_id, error=reason)
    return released
