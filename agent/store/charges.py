"""Data access for provider spend: the `provider_charges` rows a guarded execution paid for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store.tables import ProviderChargeRow
from signoff.tools.charges import ProviderCharge

__all__ = ["ChargeRecord", "charges_of_run", "provider_spend_of_run", "record_charges"]


@dataclass(frozen=True, kw_only=True)
class ChargeRecord:
    """One provider charge as stored: what was bought, by which call, for how much."""

    run_id: str
    tool_call_id: str
    approval_id: str | None
    tool_name: str
    provider: str
    item: str
    units: int
    unit_price_usd: Decimal
    cost_usd: Decimal
    price_version: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: ProviderChargeRow) -> ChargeRecord:
        """The record of a stored row."""
        return cls(
            run_id=row.run_id,
            tool_call_id=row.tool_call_id,
            approval_id=row.approval_id,
            tool_name=row.tool_name,
            provider=row.provider,
            item=row.item,
            units=row.units,
            unit_price_usd=row.unit_price_usd,
            cost_usd=row.cost_usd,
            price_version=row.price_version,
            created_at=row.created_at,
        )


def record_charges(
    session: AsyncSession,
    charges: Sequence[ProviderCharge],
    *,
    run_id: str,
    tool_call_id: str,
    approval_id: str | None,
    tool_name: str,
    now: datetime,
) -> None:
    """Add one row per charge to the caller's transaction."""
    for paid in charges:
        session.add(
            ProviderChargeRow(
                run_id=run_id,
                tool_call_id=tool_call_id,
                approval_id=approval_id,
                tool_name=tool_name,
                provider=paid.provider,
                item=paid.item,
                units=paid.units,
                unit_price_usd=paid.unit_price_usd,
                cost_usd=paid.cost_usd,
                price_version=paid.price_version,
                created_at=now,
            )
        )


async def charges_of_run(session: AsyncSession, run_id: str) -> list[ChargeRecord]:
    """The run's charges, oldest first."""
    rows = await session.scalars(
        select(ProviderChargeRow).where(ProviderChargeRow.run_id == run_id).order_by(ProviderChargeRow.charge_id)
    )
    return [ChargeRecord.from_row(row) for row in rows]


async def provider_spend_of_run(session: AsyncSession, run_id: str) -> Decimal:
    """What the run's tool calls paid vendors, in USD."""
    total = await session.scalar(
        select(func.coalesce(func.sum(ProviderChargeRow.cost_usd), 0)).where(ProviderChargeRow.run_id == run_id)
    )
    return Decimal(total or 0)
