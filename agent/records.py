"""Reading what a run left behind: its ledger (every model request) and its audit trail (every tool call).

These are the public, typed views of the stored rows (frozen dataclasses, no ORM objects), and the one
place ledger totals are computed, with one rule for unknown prices: a run with any unpriced request
has an unknown cost (`None`), never a cost of 0 for the part nobody priced.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from signoff.agent.ledger import LedgerEntry, LedgerWriter
from signoff.agent.store import audit as audit_store
from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import LedgerRow, ToolCallRow

__all__ = ["LedgerTotals", "ToolCallRecord", "audit_trail", "ledger_entries", "ledger_totals"]


@dataclass(frozen=True, kw_only=True)
class LedgerTotals:
    """A run's answered model requests on the ledger, and what the priced ones cost."""

    requests: int
    priced_cost_usd: Decimal
    unpriced_requests: int

    @property
    def cost_usd(self) -> Decimal | None:
        """The run's cost; None when some request had no known price (never 0 for unknown)."""
        return None if self.unpriced_requests else self.priced_cost_usd

    @classmethod
    def of(cls, entries: Iterable[LedgerEntry]) -> LedgerTotals:
        """The totals of entries already read (failed attempts carry no tokens and count for nothing)."""
        answered = [entry for entry in entries if entry.attempt_status == "succeeded"]
        priced = [entry.cost_usd for entry in answered if entry.cost_usd is not None]
        return cls(
            requests=len(answered),
            priced_cost_usd=sum(priced, start=Decimal(0)),
            unpriced_requests=len(answered) - len(priced),
        )


@dataclass(frozen=True, kw_only=True)
class ToolCallRecord:
    """One tool call of a run as the audit trail holds it: what was asked, decided and done.

    `verdict` and `rule` are the policy's decision (`allow`, `deny`, `require_approval`); `status` is what
    happened (`denied`, `awaiting_approval`, `running`, `succeeded`, `failed`, `unknown`, ...); `args` are
    the validated arguments that were decided on (after an approver's edit, the edited ones).
    """

    run_id: str
    tool_call_id: str
    tool_name: str
    args: dict[str, Any]
    verdict: str
    rule: str
    reason: str
    status: str
    items: int
    estimated_cost_usd: Decimal
    approval_id: str | None
    result: Any
    error: str | None
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: ToolCallRow) -> ToolCallRecord:
        """The record of a stored audit row."""
        return cls(
            run_id=row.run_id,
            tool_call_id=row.tool_call_id,
            tool_name=row.tool_name,
            args=json.loads(row.args_json),
            verdict=row.verdict,
            rule=row.rule,
            reason=row.reason,
            status=row.status,
            items=row.items,
            estimated_cost_usd=row.estimated_cost_usd,
            approval_id=row.approval_id,
            result=None if row.result_json is None else json.loads(row.result_json),
            error=row.error,
            requested_at=row.requested_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )


async def audit_trail(session_factory: SessionFactory, run_id: str) -> list[ToolCallRecord]:
    """Every tool call of the run, in the order the model asked for them."""
    async with session_factory() as session:
        rows = await audit_store.list_tool_calls(session, run_id=run_id)
    return [ToolCallRecord.from_row(row) for row in rows]


async def ledger_entries(session_factory: SessionFactory, run_id: str) -> list[LedgerEntry]:
    """Every model request attempt of the run on the ledger, in step order (failed attempts included)."""
    async with session_factory() as session:
        rows = (
            await session.scalars(
                select(LedgerRow).where(LedgerRow.run_id == run_id).order_by(LedgerRow.step, LedgerRow.ledger_id)
            )
        ).all()
    return [LedgerEntry.from_row(row) for row in rows]


async def ledger_totals(ledger: LedgerWriter, session_factory: SessionFactory, run_id: str) -> LedgerTotals:
    """Sum the ledger rows of `run_id`: answered requests and their cost (failed attempts carry no tokens).

    Rows `ledger` had to spool (the database refused them) are written first, so the sum misses none; if
    they still cannot be written this raises, rather than report a cost too low.
    """
    await ledger.flush_spool()
    answered = LedgerRow.attempt_status == "succeeded"
    async with session_factory() as session:
        requests, priced, unpriced = (
            await session.execute(
                select(
                    func.count(LedgerRow.ledger_id).filter(answered),
                    func.sum(LedgerRow.cost_usd),
                    func.count(LedgerRow.ledger_id).filter(LedgerRow.cost_usd.is_(None), answered),
                ).where(LedgerRow.run_id == run_id)
            )
        ).one()
    return LedgerTotals(requests=int(requests), priced_cost_usd=Decimal(priced or 0), unpriced_requests=int(unpriced))
