"""Data access for crash recovery: what dead or stopping processes left behind, and handing it on.

The runner decides what to do with these runs (take over, resume); this module only finds them and
settles the calls whose outcome nobody can know any more (they become `unknown`, never re-executed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store import runs as run_store
from signoff.agent.store.tables import ApprovalRow, RunRow

__all__ = ["StrandedRuns", "find_stranded_runs", "release_runs", "settle_stale_calls"]


@dataclass(frozen=True)
class StrandedRuns:
    """Runs nobody is driving: `orphaned` were left `running` past their lease; `resumable` wait for
    nothing (all their approvals are decided or expired) but were never resumed."""

    orphaned: list[str]
    resumable: list[str]


async def settle_stale_calls(session: AsyncSession, *, now: datetime) -> None:
    """`executing` approvals past their lease become `unknown` (with their audited calls); due approvals expire."""
    stale = await approval_store.mark_stale_executions_unknown(session, now=now)
    for approval in stale:
        await audit_store.mark_call_of_approval(session, approval, status="unknown", error=approval.error)
    await approval_store.expire_due(session, now=now)


async def find_stranded_runs(session: AsyncSession, *, now: datetime, driven_here: ColumnElement[bool]) -> StrandedRuns:
    """The stranded runs among those `driven_here` selects (each runner recovers only its own runs)."""
    orphaned = (
        await session.execute(
            select(RunRow.run_id).where(
                RunRow.status == "running",
                (RunRow.lease_expires_at.is_(None)) | (RunRow.lease_expires_at <= now),
                driven_here,
            )
        )
    ).scalars()
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
    return StrandedRuns(list(orphaned), list(resumable))


async def release_runs(
    session: AsyncSession, *, run_ids: Sequence[str], worker_id: str, now: datetime, reason: str
) -> int:
    """End this worker's leases on `run_ids` now, so the next recovery takes them at once.

    A call the worker was executing may or may not have had its effect: it becomes `unknown` with
    `reason`. Returns how many runs were released (a run another worker holds is left alone).
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
        await audit_store.mark_running_calls_unknown(session, run_id=run_id, error=reason)
    return released
