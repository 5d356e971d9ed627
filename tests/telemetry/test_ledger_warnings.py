"""The ledger warns about a costly request and a costly day (tracking, never blocking)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from signoff.agent.ledger import LedgerEntry, LedgerWriter
from signoff.agent.store.engine import SessionFactory
from tests.support.clock import FakeClock
from tests.support.ledger import ledger_entry
from tests.telemetry.telemetry_support import TelemetryCapture


def _entry(clock: FakeClock, cost: Decimal | None, step: int) -> LedgerEntry:
    return ledger_entry(run_id="run-w", step=step, cost_usd=cost, created_at=clock(), input_tokens=1, output_tokens=1)


async def test_costly_request_and_costly_day_are_logged(
    session_factory: SessionFactory, clock: FakeClock, telemetry_capture: TelemetryCapture, tmp_path: Path
) -> None:
    writer = LedgerWriter(
        session_factory, spool_path=tmp_path / "spool.jsonl", daily_warning_usd=Decimal("2.00"), clock=clock
    )
    await writer.record(_entry(clock, Decimal("0.50"), 1))
    assert "model spend today" not in telemetry_capture.exported_text()
    assert "model request cost" not in telemetry_capture.exported_text()

    await writer.record(_entry(clock, Decimal("1.75"), 2))
    exported = telemetry_capture.exported_text()
    assert "model request cost $1.75 (over $1.00)" in exported
    assert "model spend today is $2.25 (over $2.00)" in exported


async def test_no_warning_without_a_price(
    session_factory: SessionFactory, clock: FakeClock, telemetry_capture: TelemetryCapture, tmp_path: Path
) -> None:
    writer = LedgerWriter(
        session_factory, spool_path=tmp_path / "spool.jsonl", daily_warning_usd=Decimal("0.01"), clock=clock
    )
    await writer.record(_entry(clock, None, 1))
    assert "model spend today" not in telemetry_capture.exported_text()
