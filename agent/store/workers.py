"""Data access for workers: the processes that drive runs, and their heartbeats."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store.engine import rows_affected
from signoff.agent.store.tables import RunRow, WorkerRow

__all__ = ["beat", "prune", "register", "running_owners", "stop", "workers"]


async def register(session: AsyncSession, *, worker_id: str, host: str, pid: int, now: datetime) -> None:
    """Record a worker that starts driving runs."""
    session.add(WorkerRow(worker_id=worker_id, host=host, pid=pid, started_at=now, heartbeat_at=now))


async def beat(session: AsyncSession, *, worker_id: str, now: datetime) -> bool:
    """This worker is alive now; False when its row is gone or it was marked stopped (then it must stop)."""
    result = await session.execute(
        update(WorkerRow)
        .where(WorkerRow.worker_id == worker_id, WorkerRow.stopped_at.is_(None))
        .values(heartbeat_at=now)
    )
    return rows_affected(result) == 1


async def stop(session: AsyncSession, *, worker_id: str) -> None:
    """This worker stopped cleanly: its row goes (its runs were released, so their leases say the rest)."""
    await session.execute(delete(WorkerRow).where(WorkerRow.worker_id == worker_id))


async def prune(session: AsyncSession, *, older_than: datetime) -> None:
    """Forget workers that have not beaten since `older_than` (processes that died long ago)."""
    await session.execute(delete(WorkerRow).where(WorkerRow.heartbeat_at < older_than))


async def running_owners(session: AsyncSession) -> dict[str, str | None]:
    """run id -> lease owner of every `running` run."""
    rows = await session.execute(select(RunRow.run_id, RunRow.lease_owner).where(RunRow.status == "running"))
    return {run_id: owner for run_id, owner in rows.all()}


async def workers(session: AsyncSession, worker_ids: Iterable[str]) -> dict[str, WorkerRow]:
    """The rows of these workers (a worker id with no row is left out)."""
    wanted = sorted(set(worker_ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(WorkerRow).where(WorkerRow.worker_id.in_(wanted)))
    return {row.worker_id: row for row in rows}
