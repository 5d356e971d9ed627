"""Cost reports from the ledger: totals by day, model, run or prompt version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.store.tables import LedgerRow

__all__ = ["CostGrouping", "CostLine", "cost_report"]

CostGrouping = Literal["day", "model", "run", "prompt"]


@dataclass(frozen=True, kw_only=True)
class CostLine:
    """Totals of one group. `cost_usd` sums the priced requests (None when none had a known price);
    `unpriced_requests` counts requests whose price is unknown."""

    group: str
    requests: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: Decimal | None
    unpriced_requests: int


def _group_key(grouping: CostGrouping) -> Any:
    match grouping:
        case "day":
            return func.date(LedgerRow.created_at)
        case "model":
            return LedgerRow.model_name
        case "run":
            return LedgerRow.run_id
        case "prompt":
            return LedgerRow.prompt_name + "@" + LedgerRow.prompt_version


async def cost_report(
    session: AsyncSession,
    *,
    group_by: CostGrouping = "day",
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[CostLine]:
    """Ledger totals per group, ordered by group."""
    key = _group_key(group_by).label("group_key")
    query = (
        select(
            key,
            func.count(),
            func.sum(LedgerRow.input_tokens),
            func.sum(LedgerRow.output_tokens),
            func.sum(LedgerRow.cache_read_tokens),
            func.sum(LedgerRow.cache_write_tokens),
            func.sum(LedgerRow.cost_usd),
            func.count() - func.count(LedgerRow.cost_usd),
        )
        .group_by(key)
        .order_by(key)
    )
    if since is not None:
        query = query.where(LedgerRow.created_at >= since)
    if until is not None:
        query = query.where(LedgerRow.created_at < until)
    lines: list[CostLine] = []
    for group, requests, input_t, output_t, cache_r, cache_w, cost, unpriced in (await session.execute(query)).all():
        lines.append(
            CostLine(
                group=str(group),
                requests=int(requests),
                input_tokens=int(input_t or 0),
                output_tokens=int(output_t or 0),
                cache_read_tokens=int(cache_r or 0),
                cache_write_tokens=int(cache_w or 0),
                cost_usd=cost,
                unpriced_requests=int(unpriced),
            )
        )
    return lines
