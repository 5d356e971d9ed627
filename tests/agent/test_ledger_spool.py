"""The ledger spool survives damage and sharing: a torn line (a write cut short by a crash) is set
aside instead of blocking every later write, and rows another process appends during a replay are kept."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from signoff.agent.ledger import LedgerEntry, LedgerWriter
from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import LedgerRow
from tests.support.ledger import ledger_entry


def _entry(step: int) -> LedgerEntry:
    return ledger_entry(step=step)


async def _ledger_rows(session_factory: SessionFactory) -> int:
    async with session_factory() as session:
        return int((await session.execute(select(func.count()).select_from(LedgerRow))).scalar_one())


async def test_a_torn_spool_line_does_not_stop_the_ledger(session_factory: SessionFactory, tmp_path: Path) -> None:
    spool = tmp_path / "ledger-spool.jsonl"
    # The last spooled row, cut short when the process died while appending it.
    spool.write_text(_entry(1).to_json()[:40], encoding="utf-8")
    writer = LedgerWriter(session_factory, spool_path=spool)

    for step in (2, 3, 4):
        await writer.record(_entry(step))

    assert await _ledger_rows(session_factory) == 3, spool.read_text(encoding="utf-8").count("\n")


async def test_rows_appended_by_another_writer_during_a_replay_are_not_lost(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    spool = tmp_path / "ledger-spool.jsonl"
    spool.write_text(_entry(1).to_json() + "\n", encoding="utf-8")
    replaying = LedgerWriter(session_factory, spool_path=spool)
    other_process = LedgerWriter(session_factory, spool_path=spool)

    real_insert = replaying._insert

    async def insert_while_another_writer_spools(entries: list[LedgerEntry]) -> None:
        await real_insert(entries)
        # Meanwhile another process could not reach the database and spooled its row.
        other_process._spool(_entry(2), RuntimeError("database unavailable"))

    replaying._insert = insert_while_another_writer_spools  # type: ignore[method-assign]
    await replaying.flush_spool()

    in_spool = spool.read_text(encoding="utf-8").count("\n") if spool.exists() else 0
    assert await _ledger_rows(session_factory) + in_spool == 2
