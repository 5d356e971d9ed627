"""Data access for runs. Status changes are conditional updates, and leases mark who works on a run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store.engine import rows_affected
from signoff.agent.store.tables import LedgerRow, RunRow, RunStatus, ToolCallRow

__all__ = [
    "claim_for_resume",
    "claim_stale_running",
    "conversation_owner",
    "finish_run",
    "get_run",
    "latest_in_conversation",
    "list_runs",
    "pause_run",
    "progress_counts",
    "release_lease",
    "save_history",
]


async def get_run(session: AsyncSession, *, run_id: str) -> RunRow | None:
    """The run with that id, or None."""
    return await session.get(RunRow, run_id)


async def conversation_owner(session: AsyncSession, *, conversation_id: str) -> str | None:
    """Who started a conversation (the requester of its first run), or None if there is none."""
    result = await session.execute(
        select(RunRow.requested_by)
        .where(RunRow.conversation_id == conversation_id)
        .order_by(RunRow.created_at, RunRow.run_id)
        .limit(1)
    )
    return result.scalar_one_or_none()


async def list_runs(
    session: AsyncSession, *, statuses: Sequence[RunStatus] | None = None, limit: int = 50
) -> list[RunRow]:
    """Runs, newest first."""
    query = select(RunRow).order_by(RunRow.created_at.desc(), RunRow.run_id).limit(limit)
    if statuses:
        query = query.where(RunRow.status.in_(statuses))
    return list((await session.execute(query)).scalars())


async def claim_for_resume(
    session: AsyncSession, *, run_id: str, worker_id: str, now: datetime, lease_expires_at: datetime
) -> bool:
    """awaiting_approval -> running for one worker; a second resumer of the same run gets False."""
    result = await session.execute(
        update(RunRow)
        .where(RunRow.run_id == run_id, RunRow.status == "awaiting_approval")
        .values(status="running", lease_owner=worker_id, lease_expires_at=lease_expires_at, updated_at=now)
    )
    return rows_affected(result) == 1


async def claim_stale_running(
    session: AsyncSession, *, run_id: str, worker_id: str, now: datetime, lease_expires_at: datetime
) -> bool:
    """Take over a `running` run whose worker's lease ran out (the worker died)."""
    result = await session.execute(
        update(RunRow)
        .where(
            RunRow.run_id == run_id,
            RunRow.status == "running",
            or_(RunRow.lease_expires_at.is_(None), RunRow.lease_expires_at <= now),
        )
        .values(lease_owner=worker_id, lease_expires_at=lease_expires_at, updated_at=now)
    )
    return rows_affected(result) == 1


def _owned(run_id: str, worker_id: str):
    return and_(RunRow.run_id == run_id, RunRow.status == "running", RunRow.lease_owner == worker_id)


async def save_history(
    session: AsyncSession,
    *,
    run_id: str,
    worker_id: str,
    message_history: str,
    now: datetime,
    lease_expires_at: datetime,
) -> bool:
    """Store the history so far and renew the lease (every step, so a crash loses at most one step).

    False means this worker no longer holds the run.
    """
    result = await session.execute(
        update(RunRow)
        .where(_owned(run_id, worker_id))
        .values(message_history=message_history, updated_at=now, lease_expires_at=lease_expires_at)
    )
    return rows_affected(result) == 1


async def release_lease(session: AsyncSession, *, run_id: str, worker_id: str, now: datetime) -> bool:
    """End this worker's lease on a running run now, so that recovery may take it over at once."""
    result = await session.execute(update(RunRow).where(_owned(run_id, worker_id)).values(lease_expires_at=now))
    return rows_affected(result) == 1


async def pause_run(session: AsyncSession, *, run_id: str, worker_id: str, message_history: str, now: datetime) -> bool:
    """running -> awaiting_approval, releasing the lease."""
    result = await session.execute(
        update(RunRow)
        .where(_owned(run_id, worker_id))
        .values(
            status="awaiting_approval",
            message_history=message_history,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    return rows_affected(result) == 1


async def finish_run(
    session: AsyncSession,
    *,
    run_id: str,
    worker_id: str,
    status: RunStatus,
    message_history: str | None,
    now: datetime,
    final_output: str | None = None,
    failure_reason: str | None = None,
    keep_history_when_empty: bool = False,
) -> bool:
    """running -> completed | failed | cancelled, releasing the lease.

    With `keep_history_when_empty`, an empty `message_history` leaves the stored history as it is
    (a run that fails before it ran keeps what it had)."""
    assert status in ("completed", "failed", "cancelled"), status
    values: dict[str, object] = {
        "status": status,
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
        "finished_at": now,
        "final_output": final_output,
        "failure_reason": failure_reason,
    }
    if message_history is not None and not (keep_history_when_empty and message_history == "[]"):
        values["message_history"] = message_history
    result = await session.execute(update(RunRow).where(_owned(run_id, worker_id)).values(**values))
    return rows_affected(result) == 1


async def latest_in_conversation(
    session: AsyncSession, *, conversation_id: str, excluding_run_id: str | None = None
) -> RunRow | None:
    """The conversation's latest run (other than `excluding_run_id`), or None."""
    query = select(RunRow).where(RunRow.conversation_id == conversation_id)
    if excluding_run_id is not None:
        query = query.where(RunRow.run_id != excluding_run_id)
    result = await session.execute(query.order_by(RunRow.created_at.desc(), RunRow.run_id.desc()).limit(1))
    return result.scalar_one_or_none()


async def progress_counts(session: AsyncSession, *, run_id: str) -> tuple[int, Decimal, int]:
    """How far a run has got: model requests answered, their model spend, and tool calls made."""
    requests, cost = (
        await session.execute(
            # Failed attempts share the step of the request they were attempts at: not a step of their own.
            select(func.count(), func.sum(LedgerRow.cost_usd)).where(
                LedgerRow.run_id == run_id, LedgerRow.attempt_status == "succeeded"
            )
        )
    ).one()
    # Calls still awaiting approval are counted by pydantic-ai when they run on the next resume.
    tool_calls = (
        await session.execute(
            select(func.count()).where(ToolCallRow.run_id == run_id, ToolCallRow.status != "awaiting_approval")
        )
    ).scalar_one()
    return int(requests), cost or Decimal("0"), int(tool_calls)
