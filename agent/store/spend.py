"""Data access for cumulative spend: a conversation's, a requester's today and everyone's today.

Spend is model spend (the ledger's priced requests) plus provider spend (the estimated cost of tool
calls that ran, run or wait for approval: `audit.SPENDING_STATUSES`). Both are summed with conditional
aggregates, one query per table, over the rows of the conversation or of today (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Numeric, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store.audit import SPENDING_STATUSES
from signoff.agent.store.tables import LedgerRow, RunRow, ToolCallRow

__all__ = ["SpendSoFar", "spend_so_far"]


@dataclass(frozen=True, kw_only=True)
class SpendSoFar:
    """Model plus provider spend, in USD, of a conversation, a requester today and everyone today."""

    conversation_usd: Decimal
    requester_today_usd: Decimal
    everyone_today_usd: Decimal


def _day_start(now: datetime) -> datetime:
    """Midnight UTC of `now`'s day (the store keeps UTC)."""
    return datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)


async def spend_so_far(
    session: AsyncSession,
    *,
    conversation_id: str,
    requested_by: str,
    now: datetime,
    excluding: tuple[str, str] | None = None,
) -> SpendSoFar:
    """The spend before the call being decided. `excluding` is a (run_id, tool_call_id) to leave out
    (an edited approval replaces the call it edits)."""
    since = _day_start(now)
    totals = [Decimal("0"), Decimal("0"), Decimal("0")]
    when = func.coalesce(ToolCallRow.started_at, ToolCallRow.requested_at)
    call_cost = func.coalesce(ToolCallRow.estimated_cost_usd, 0)
    calls = (
        select(*_sums(call_cost, conversation_id=conversation_id, requested_by=requested_by, today=when >= since))
        .join(RunRow, RunRow.run_id == ToolCallRow.run_id)
        .where(
            ToolCallRow.status.in_(SPENDING_STATUSES),
            # The same "when" as the sums: a call requested before midnight and run after it is today's.
            or_(RunRow.conversation_id == conversation_id, when >= since),
        )
    )
    if excluding is not None:
        run_id, tool_call_id = excluding
        calls = calls.where(or_(ToolCallRow.run_id != run_id, ToolCallRow.tool_call_id != tool_call_id))
    model_cost = func.coalesce(LedgerRow.cost_usd, 0)
    model = (
        select(
            *_sums(
                model_cost,
                conversation_id=conversation_id,
                requested_by=requested_by,
                today=LedgerRow.created_at >= since,
            )
        )
        .join(RunRow, RunRow.run_id == LedgerRow.run_id)
        .where(or_(RunRow.conversation_id == conversation_id, LedgerRow.created_at >= since))
    )
    for query in (calls, model):
        row = (await session.execute(query)).one()
        for index, value in enumerate(row):
            totals[index] += Decimal(value or 0)
    return SpendSoFar(conversation_usd=totals[0], requester_today_usd=totals[1], everyone_today_usd=totals[2])


def _sums(
    cost: ColumnElement[Any],
    *,
    conversation_id: str,
    requested_by: str,
    today: ColumnElement[bool],
) -> tuple[ColumnElement[Decimal], ColumnElement[Decimal], ColumnElement[Decimal]]:
    zero = literal(0, Numeric)

    def total(condition: ColumnElement[bool]) -> ColumnElement[Decimal]:
        return func.sum(case((condition, cost), else_=zero))

    return (
        total(RunRow.conversation_id == conversation_id),
        total(and_(RunRow.requested_by == requested_by, today)),
        total(today),
    )
