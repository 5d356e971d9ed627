"""Cost reports from the ledger: model spend and provider spend, by day, model, run, prompt or provider.

Model spend is the token rows (`ledger`); provider spend is what tools paid vendors (`provider_charges`).
Every grouping shows both, so a report's total is all the money: by day and by run the two share the key;
by prompt a charge counts for its run's prompt; by model or provider, charges appear as
`provider:<name>` lines (no model made them) and token rows as their model's lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store.tables import LedgerRow, ProviderChargeRow, RunRow

__all__ = ["CostGrouping", "CostLine", "cost_report"]


CostGrouping = Literal["day", "model", "run", "prompt", "provider"]


@dataclass(frozen=True, kw_only=True)
class CostLine:
    """Totals of one group. `cost_usd` sums the priced model requests (None when none had a known
    price); `unpriced_requests` counts requests whose price is unknown. `requests` counts requests that
    got a response; `failed_attempts` counts attempts that got none (retried or not), which carry no
    tokens. `provider_cost_usd` is what tools paid vendors in `provider_calls` charged calls."""

    group: str
    requests: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: Decimal | None
    unpriced_requests: int
    failed_attempts: int = 0
    provider_cost_usd: Decimal = Decimal(0)
    provider_calls: int = 0

    @property
    def total_cost_usd(self) -> Decimal | None:
        """Model plus provider spend; None when some model request's price is unknown (never a guess)."""
        if self.unpriced_requests:
            return None
        return (self.cost_usd or Decimal(0)) + self.provider_cost_usd

    @classmethod
    def total_of(cls, lines: Iterable[CostLine], *, group: str = "total") -> CostLine:
        """One line summing `lines`."""
        lines = list(lines)
        priced = [line.cost_usd for line in lines if line.cost_usd is not None]
        return cls(
            group=group,
            requests=sum(line.requests for line in lines),
            input_tokens=sum(line.input_tokens for line in lines),
            output_tokens=sum(line.output_tokens for line in lines),
            cache_read_tokens=sum(line.cache_read_tokens for line in lines),
            cache_write_tokens=sum(line.cache_write_tokens for line in lines),
            cost_usd=sum(priced, start=Decimal(0)) if priced else None,
            unpriced_requests=sum(line.unpriced_requests for line in lines),
            failed_attempts=sum(line.failed_attempts for line in lines),
            provider_cost_usd=sum((line.provider_cost_usd for line in lines), start=Decimal(0)),
            provider_calls=sum(line.provider_calls for line in lines),
        )


def _model_key(grouping: CostGrouping) -> Any:
    match grouping:
        case "day":
            return func.date(LedgerRow.created_at)
        case "model" | "provider":
            return LedgerRow.model_name
        case "run":
            return LedgerRow.run_id
        case "prompt":
            return LedgerRow.prompt_name + "@" + LedgerRow.prompt_version


def _charge_key(grouping: CostGrouping) -> Any:
    match grouping:
        case "day":
            return func.date(ProviderChargeRow.created_at)
        case "model" | "provider":
            return "provider:" + ProviderChargeRow.provider
        case "run":
            return ProviderChargeRow.run_id
        case "prompt":
            return RunRow.prompt_name + "@" + RunRow.prompt_version


async def cost_report(
    session: AsyncSession,
    *,
    group_by: CostGrouping = "day",
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[CostLine]:
    """Ledger totals per group (model and provider spend), ordered by group."""
    lines: dict[str, CostLine] = {}
    for line in await _model_lines(session, group_by=group_by, since=since, until=until):
        lines[line.group] = line
    for group, cost, calls in await _charge_lines(session, group_by=group_by, since=since, until=until):
        line = lines.get(group) or CostLine.total_of([], group=group)
        lines[group] = replace(line, provider_cost_usd=cost, provider_calls=calls)
    return [lines[group] for group in sorted(lines)]


async def _model_lines(
    session: AsyncSession, *, group_by: CostGrouping, since: datetime | None, until: datetime | None
) -> list[CostLine]:
    key = _model_key(group_by).label("group_key")
    failed = LedgerRow.attempt_status == "failed"
    query = select(
        key,
        func.count() - func.count(case((failed, 1))),
        func.sum(LedgerRow.input_tokens),
        func.sum(LedgerRow.output_tokens),
        func.sum(LedgerRow.cache_read_tokens),
        func.sum(LedgerRow.cache_write_tokens),
        func.sum(LedgerRow.cost_usd),
        func.count() - func.count(LedgerRow.cost_usd),
        func.count(case((failed, 1))),
    ).group_by(key)
    query = query.where(*_within(LedgerRow.created_at, since=since, until=until))
    rows = (await session.execute(query)).all()
    return [
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
        for group, requests, input_t, output_t, cache_r, cache_w, cost, unpriced, failed_attempts in rows
    ]


async def _charge_lines(
    session: AsyncSession, *, group_by: CostGrouping, since: datetime | None, until: datetime | None
) -> list[tuple[str, Decimal, int]]:
    key = _charge_key(group_by).label("group_key")
    query = select(key, func.sum(ProviderChargeRow.cost_usd), func.count()).group_by(key)
    if group_by == "prompt":
        query = query.join(RunRow, RunRow.run_id == ProviderChargeRow.run_id)
    query = query.where(*_within(ProviderChargeRow.created_at, since=since, until=until))
    rows = (await session.execute(query)).all()
    return [(str(group), Decimal(cost or 0), int(calls)) for group, cost, calls in rows]


def _within(column: Any, *, since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    """Conditions keeping rows from `since` (inclusive) to `until` (exclusive)."""
    bounds: list[ColumnElement[bool]] = []
    if since is not None:
        bounds.append(column >= since)
    if until is not None:
        bounds.append(column < until)
    return bounds
