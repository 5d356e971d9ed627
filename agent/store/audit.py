"""Data access for tool-call audit rows (one per tool call of a run)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent.store.tables import ToolCallRow, ToolCallStatus

__all__ = [
    "SPENDING_STATUSES",
    "get_tool_call",
    "list_tool_calls",
    "recent_tool_calls",
    "run_spend_usd",
    "serialize_decisions",
    "update_tool_call",
]

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
    for key in (f"signoff:tool:{tool_name}", f"signoff:run:{run_id}"):
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


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
    session: AsyncSession, *, since: datetime, tool_name: str, excluding_tool_call_id: str | None = None
) -> list[tuple[datetime, int, Decimal]]:
    """(requested_at, items, estimated cost) of calls of one tool, any run, after `since`, that reached the
    outside world; oldest first. Served by the (tool_name, requested_at) index."""
    query = (
        select(ToolCallRow.requested_at, ToolCallRow.items, ToolCallRow.estimated_cost_usd)
        .where(
            ToolCallRow.tool_name == tool_name,
            ToolCallRow.requested_at > since,
            ToolCallRow.status.in_(SPENDING_STATUSES),
        )
        .order_by(ToolCallRow.requested_at)
    )
    if excluding_tool_call_id is not None:
        query = query.where(ToolCallRow.tool_call_id != excluding_tool_call_id)
    return [(at, int(items), cost) for at, items, cost in (await session.execute(query)).all()]
