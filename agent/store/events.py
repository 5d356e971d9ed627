"""Data access for run events: appended inside the transactions that change what they report."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store.tables import RunEventRow

__all__ = ["EventKind", "append_event", "events_after"]

EventKind = str
"""One of: run_started, run_resumed, model_text, tool_call, decision, approval_requested,
approval_decided, tool_result, awaiting_approval, completed, failed."""


def append_event(
    session: AsyncSession, *, run_id: str, kind: EventKind, payload: dict[str, Any], now: datetime
) -> None:
    """Add an event to the caller's transaction: it becomes visible exactly when the change it reports does."""
    session.add(
        RunEventRow(
            run_id=run_id, kind=kind, payload_json=json.dumps(payload, sort_keys=True, default=str), created_at=now
        )
    )


async def events_after(
    session: AsyncSession, *, run_id: str, after_event_id: int = 0, limit: int = 500
) -> list[RunEventRow]:
    """A run's events with ids above `after_event_id`, in order."""
    result = await session.execute(
        select(RunEventRow)
        .where(RunEventRow.run_id == run_id, RunEventRow.event_id > after_event_id)
        .order_by(RunEventRow.event_id)
        .limit(limit)
    )
    return list(result.scalars())
