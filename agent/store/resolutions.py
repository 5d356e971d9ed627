"""Data access for people's findings on calls whose outcome is unknown: run events of kind `tool_call_resolved`.

A finding is appended to the run's event feed (who, what they found, when, their note) rather than
written over the call: the call stays `unknown` in the audit, every finding is kept in order, and the
event stream shows it to whoever watches the run. The latest finding on a call is the one that counts.
"""

from __future__ import annotations

import json
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.effects import CallResolution
from signoff.agent.store.events import append_event
from signoff.agent.store.tables import RunEventRow

__all__ = ["RESOLUTION_EVENT", "add_resolution", "list_resolutions"]

RESOLUTION_EVENT = "tool_call_resolved"
"""The run event kind of a person's finding on an unknown call."""


def add_resolution(session: AsyncSession, *, resolution: CallResolution, tool_name: str) -> None:
    """Record the finding in the caller's transaction (it becomes visible when that commits)."""
    append_event(
        session,
        run_id=resolution.run_id,
        kind=RESOLUTION_EVENT,
        payload={
            "tool": tool_name,
            "tool_call_id": resolution.tool_call_id,
            "happened": resolution.happened,
            "resolved_by": resolution.resolved_by,
            "note": resolution.note,
        },
        now=resolution.resolved_at,
    )


async def list_resolutions(session: AsyncSession, *, run_ids: Collection[str]) -> list[CallResolution]:
    """Every finding on calls of these runs, oldest first (a later one on the same call replaces it)."""
    if not run_ids:
        return []
    rows = await session.scalars(
        select(RunEventRow)
        .where(RunEventRow.run_id.in_(list(run_ids)), RunEventRow.kind == RESOLUTION_EVENT)
        .order_by(RunEventRow.event_id)
    )
    resolutions: list[CallResolution] = []
    for row in rows:
        payload = json.loads(row.payload_json)
        resolutions.append(
            CallResolution(
                run_id=row.run_id,
                tool_call_id=str(payload["tool_call_id"]),
                happened=bool(payload["happened"]),
                resolved_by=str(payload["resolved_by"]),
                note=payload.get("note"),
                resolved_at=row.created_at,
            )
        )
    return resolutions
