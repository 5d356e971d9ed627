"""Cost reports from the ledger: totals by day, model, run or prompt version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store.tables import LedgerRow

__all__ = ["CostGrouping", "CostLine", "cost_report"]

CostGrouping = Literal["day", "model", "run", "prompt"]


@dataclass(frozen=True, kw_only=True)
class CostLine:
    """Totals of one group. `cost_usd` sums the priced requests (None when none had a known price);
    `unpriced_requests` counts requests whose price is unknown. `requests` counts requests that got a
    response; `failed_attempts` counts attempts that got none (retried or not), which carry no tokens."""

    group: str
    requests: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: Decimal | None
    unpriced_requests: int
    failed_attempts: int = 0


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
    failed = LedgerRow.attempt_status == "failed"
    query = (
        select(
            key,
            func.count() - func.count(case((failed, 1))),
            func.sum(LedgerRow.input_tokens),
            func.sum(LedgerRow.output_tokens),
            func.sum(LedgerRow.cache_read_tokens),
            func.sum(LedgerRow.cache_write_tokens),
            func.sum(LedgerRow.cost_usd),
            func.count() - func.count(LedgerRow.cost_usd),
            func.count(case((failed, 1))),
        )
        .group_by(key)
        .order_by(key)
    )
    if since is not None:
        query = query.where(LedgerRow.created_at >= since)
    if until is not None:
        query = query.where(LedgerRow.created_at < until)
    lines: list[CostLine] = []
    rows = (await session.execute(query)).all()
    for group, requests, input_t, output_t, cache_r, cache_w, cost, unpriced, failed_attempts in rows:
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
                failed_attempts=int(failed_attempts),
            )
        )
    return lines
