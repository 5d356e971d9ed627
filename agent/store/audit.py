"""Data access for tool-call audit rows (one per tool call of a run)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store.events import append_event
from signoff.agent.store.tables import ApprovalRow, RunRow, ToolCallRow, ToolCallStatus

__all__ = [
    "SPENDING_STATUSES",
    "get_tool_call",
    "list_tool_calls",
    "mark_call_of_approval",
    "mark_running_calls_failed",
    "mark_running_calls_unknown",
    "recent_tool_calls",
    "record_edited_args",
    "run_spend_usd",
    "serialize_decisions",
    "update_tool_call",
]

# Advisory-lock namespaces (first key of PostgreSQL's two-key locks); arbitrary, but fixed forever.
_TOOL_LOCKS = 51_001
_RUN_LOCKS = 51_002

# Calls that reached (or may still reach) the outside world: these count towards spend and rate limits.
SPENDING_STATUSES: tuple[ToolCallStatus, ...] = ("awaiting_approval", "running", "succeeded", "failed", "unknown")


async def serialize_decisions(session: AsyncSession, *, tool_name: str, run_id: str) -> None:
    """Make decisions on the same tool, or in the same run, wait for each other until commit.

    A decision reads the facts (spend so far, recent calls) and records the call in one transaction.
    SQLite's BEGIN IMMEDIATE already serializes such transactions; PostgreSQL at READ COMMITTED does
    not, so two concurrent calls could both pass a rate or spend limit. Transaction-scoped advisory
    locks, always taken in the same order (tool, then run), close that gap without deadlocks.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    # The two-key form keeps the namespaces apart: a tool's key can never equal a run's.
    for namespace, key in ((_TOOL_LOCKS, tool_name), (_RUN_LOCKS, run_id)):
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:key))"), {"namespace": namespace, "key": key}
        )


async def get_tool_call(session: AsyncSession, *, run_id: str, tool_call_id: str) -> ToolCallRow | None:
    """The audit row of one call, or None."""
    result = await session.execute(
        select(ToolCallRow).where(ToolCallRow.run_id == run_id, ToolCallRow.tool_call_id == tool_call_id)
    )
    return result.scalar_one_or_none()


async def list_tool_calls(session: AsyncSession, *, run_id: str) -> list[ToolCallRow]:
    """A run's tool calls in the order they were requested."""
    result = await session.execute(
        select(ToolCallRow).where(ToolCallRow.run_id == run_id).order_by(ToolCallRow.audit_id)
    )
    return list(result.scalars())


async def mark_call_of_approval(
    session: AsyncSession, approval: ApprovalRow, *, status: str, error: str | None
) -> None:
    """Set the status (and error) of the audit row of an approval's call.

    An `unknown` status is also a `tool_result` event: whoever watches the run sees the call's outcome
    become unknown, whichever process (the guard, recovery, a stopping server) found it so."""
    await session.execute(
        update(ToolCallRow)
        .where(ToolCallRow.run_id == approval.run_id, ToolCallRow.tool_call_id == approval.tool_call_id)
        .values(status=status, error=error)
    )
    if status == "unknown":
        _unknown_result_event(
            session,
            run_id=approval.run_id,
            tool_name=approval.tool_name,
            tool_call_id=approval.tool_call_id,
            error=error,
            now=approval.finished_at or datetime.now(UTC),
        )


async def record_edited_args(
    session: AsyncSession, *, run_id: str, tool_call_id: str, args_json: str, items: int, estimated_cost_usd: Decimal
) -> None:
    """An approver edited the call: the audit row shows (and counts) what will run."""
    await session.execute(
        update(ToolCallRow)
        .where(ToolCallRow.run_id == run_id, ToolCallRow.tool_call_id == tool_call_id)
        .values(args_json=args_json, items=items, estimated_cost_usd=estimated_cost_usd)
    )


async def mark_running_calls_failed(
    session: AsyncSession, *, run_id: str, tool_names: Collection[str], error: str, now: datetime
) -> None:
    """running -> failed for this run's calls of `tool_names` (calls known to have had no effect)."""
    await session.execute(
        update(ToolCallRow)
        .where(
            ToolCallRow.run_id == run_id,
            ToolCallRow.status == "running",
            ToolCallRow.tool_name.in_(sorted(tool_names)),
        )
        .values(status="failed", error=error, finished_at=now)
    )


async def mark_running_calls_unknown(
    session: AsyncSession, *, run_id: str, error: str, now: datetime | None = None
) -> None:
    """Calls of a run still `running` when their process stopped: their outcome is unknown (each one a
    `tool_result` event saying so, at `now`: the current time when not given)."""
    running = (ToolCallRow.run_id == run_id) & (ToolCallRow.status == "running")
    stopped = (await session.execute(select(ToolCallRow.tool_name, ToolCallRow.tool_call_id).where(running))).all()
    if not stopped:
        return
    await session.execute(update(ToolCallRow).where(running).values(status="unknown", error=error))
    now = now or datetime.now(UTC)
    for tool_name, tool_call_id in stopped:
        _unknown_result_event(
            session, run_id=run_id, tool_name=tool_name, tool_call_id=tool_call_id, error=error, now=now
        )


def _unknown_result_event(
    session: AsyncSession, *, run_id: str, tool_name: str, tool_call_id: str, error: str | None, now: datetime
) -> None:
    """The `tool_result` event of a call found `unknown`, as the guard writes it for a timed-out call."""
    append_event(
        session,
        run_id=run_id,
        kind="tool_result",
        payload={"tool": tool_name, "tool_call_id": tool_call_id, "status": "unknown", "error": error},
        now=now,
    )


async def update_tool_call(session: AsyncSession, *, audit_id: int, **values: object) -> None:
    """Set columns of one audit row."""
    await session.execute(update(ToolCallRow).where(ToolCallRow.audit_id == audit_id).values(**values))


async def run_spend_usd(session: AsyncSession, *, run_id: str, excluding_tool_call_id: str | None = None) -> Decimal:
    """Estimated external spend of calls of this run that ran, run, or wait for approval."""
    query = select(func.sum(ToolCallRow.estimated_cost_usd)).where(
        ToolCallRow.run_id == run_id, ToolCallRow.status.in_(SPENDING_STATUSES)
    )
    if excluding_tool_call_id is not None:
        query = query.where(ToolCallRow.tool_call_id != excluding_tool_call_id)
    return (await session.execute(query)).scalar_one() or Decimal("0")


async def recent_tool_calls(
    session: AsyncSession,
    *,
    since: datetime,
    tool_name: str,
    excluding: tuple[str, str] | None = None,
) -> list[tuple[datetime, int, Decimal, str, str]]:
    """(when, items, estimated cost, run id, requester) of calls of one tool, any run, that reached the outside world
    after `since`; oldest first. A call counts from when it started executing (an approved call may
    run long after it was requested), or from its request while it has not started.
    `excluding` is a (run_id, tool_call_id) pair to leave out."""
    when = func.coalesce(ToolCallRow.started_at, ToolCallRow.requested_at)
    query = (
        select(when, ToolCallRow.items, ToolCallRow.estimated_cost_usd, ToolCallRow.run_id, RunRow.requested_by)
        .join(RunRow, RunRow.run_id == ToolCallRow.run_id)
        .where(
            ToolCallRow.tool_name == tool_name,
            # Either column may be the recent one; started_at is never earlier than requested_at.
            or_(ToolCallRow.requested_at > since, ToolCallRow.started_at > since),
            ToolCallRow.status.in_(SPENDING_STATUSES),
        )
        .order_by(when)
    )
    if excluding is not None:
        run_id, tool_call_id = excluding
        query = query.where(or_(ToolCallRow.run_id != run_id, ToolCallRow.tool_call_id != tool_call_id))
    return [
        (at, int(items), cost, run_id, requested_by)
        for at, items, cost, run_id, requested_by in (await session.execute(query)).all()
        if at > since
    ]
