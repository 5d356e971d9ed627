"""A run's events as server-sent events, read by polling the `run_events` table.

Events are rows written by whichever process drives the run (this server, another replica, a worker),
inside the transactions that change what they report; polling the table is the one signal that works
across processes and restarts. A stream ends once the run is over and every event has been sent; a run
awaiting approval keeps it open, because the run goes on after a decision.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import logfire
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.events import events_after
from signoff.agent.store.tables import RunEventRow, RunRow

__all__ = [
    "HEARTBEAT_SECONDS",
    "MAX_STREAM_SECONDS",
    "POLL_SECONDS",
    "RETRY_MILLISECONDS",
    "TERMINAL_STATUSES",
    "StreamTiming",
    "event_frame",
    "run_event_stream",
    "sse_frame",
    "stream_is_over",
]

# How often an open stream asks the database for new events. A quarter second feels live to a person
# watching a run, and each poll is one short indexed read, so a few hundred open streams stay cheap.
POLL_SECONDS = 0.25
# A comment line when nothing else was sent for this long. Proxies and load balancers commonly close
# connections idle for 30 to 60 seconds; 15 keeps a quiet stream (a run waiting for a person) open.
HEARTBEAT_SECONDS = 15.0
# No stream lives longer than this, so no connection and its polling run forever (a run can wait for a
# decision for days). The client reconnects with `Last-Event-ID` and misses nothing.
MAX_STREAM_SECONDS = 3600.0
# Reconnection delay advised to clients (`retry:`): soon enough that a person does not notice, slow
# enough that clients do not hammer a server that is restarting.
RETRY_MILLISECONDS = 3000
# Events read per query; a run has tens of events, so one batch is nearly always all of them.
EVENT_BATCH = 500

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True, kw_only=True)
class StreamTiming:
    """The clock of one stream: poll interval, heartbeat interval, longest life, advised retry delay."""

    poll_seconds: float = POLL_SECONDS
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    max_stream_seconds: float = MAX_STREAM_SECONDS
    retry_milliseconds: int = RETRY_MILLISECONDS


def sse_frame(
    *,
    event_id: int | None = None,
    event: str | None = None,
    data: str | None = None,
    retry_milliseconds: int | None = None,
    comment: str | None = None,
) -> str:
    """One server-sent-events frame, ending in the blank line that dispatches it.

    Every line of `data` gets its own `data:` field, so text with line breaks cannot end the frame early
    or smuggle in fields.
    """
    lines: list[str] = []
    if comment is not None:
        lines.extend(f": {line}" for line in comment.splitlines() or [""])
    if retry_milliseconds is not None:
        lines.append(f"retry: {retry_milliseconds}")
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    if data is not None:
        lines.extend(f"data: {line}" for line in data.splitlines() or [""])
    return "\n".join(lines) + "\n\n"


def event_frame(row: RunEventRow) -> str:
    """The frame of one stored event: its id, its kind as the event name, and a JSON object as data."""
    data = {
        "event_id": row.event_id,
        "run_id": row.run_id,
        "kind": row.kind,
        "created_at": row.created_at.isoformat(),
        "payload": json.loads(row.payload_json),
    }
    return sse_frame(event_id=row.event_id, event=row.kind, data=json.dumps(data, separators=(",", ":")))


async def _run_status(session: AsyncSession, *, run_id: str) -> str | None:
    return (await session.execute(select(RunRow.status).where(RunRow.run_id == run_id))).scalar_one_or_none()


async def _poll(session_factory: SessionFactory, *, run_id: str, after_event_id: int) -> tuple[bool, list[RunEventRow]]:
    """Whether the run is over (or gone), and its events after `after_event_id`.

    The status is read before the events: a run's last event is written in the same transaction as
    its final status, so once the status says it is over, that read of the events holds all of them.
    """
    async with session_factory() as session:
        status = await _run_status(session, run_id=run_id)
        events = await events_after(session, run_id=run_id, after_event_id=after_event_id, limit=EVENT_BATCH)
    return status is None or status in TERMINAL_STATUSES, events


async def stream_is_over(session_factory: SessionFactory, *, run_id: str, after_event_id: int) -> bool:
    """Whether a stream from `after_event_id` would have nothing to send: the run is over and sent."""
    over, events = await _poll(session_factory, run_id=run_id, after_event_id=after_event_id)
    return over and not events


async def _never_disconnected() -> bool:
    return False


def _always() -> bool:
    return True


async def run_event_stream(
    session_factory: SessionFactory,
    *,
    run_id: str,
    after_event_id: int = 0,
    timing: StreamTiming | None = None,
    is_disconnected: Callable[[], Awaitable[bool]] = _never_disconnected,
    clock: Callable[[], float] = time.monotonic,
    should_read: Callable[[], bool] = _always,
) -> AsyncIterator[str]:
    """Frames for a run's events after `after_event_id`, as they are recorded.

    Starts with the advised retry delay; sends a comment when quiet for `timing.heartbeat_seconds`;
    ends when the run is over and all its events are sent, when `is_disconnected()` says so, after
    `timing.max_stream_seconds`, or when the database does not answer. Without `timing`, the module's constants apply.
    Every `timing.poll_seconds` it reads the database if `should_read()` says so (the server passes its
    `RunEventHub` waiter's, true when the run has news); by default it reads every time.
    """
    timing = timing or StreamTiming()
    started = last_sent = clock()
    yield sse_frame(retry_milliseconds=timing.retry_milliseconds)
    batch_was_full = False
    while not await is_disconnected():
        over, events = False, list[RunEventRow]()
        try:
            if batch_was_full or should_read():
                over, events = await _poll(session_factory, run_id=run_id, after_event_id=after_event_id)
        except (SQLAlchemyError, OSError) as error:
            # End the stream rather than fail it: the client reconnects after the advised delay with
            # `Last-Event-ID` and misses nothing.
            logfire.warn(
                "event stream of run {run_id} ended: {error_type}", run_id=run_id, error_type=type(error).__name__
            )
            return
        batch_was_full = len(events) == EVENT_BATCH
        for row in events:
            yield event_frame(row)
            after_event_id = row.event_id
        if over and len(events) < EVENT_BATCH:
            return  # the status was read first, so these were the run's last events
        now = clock()
        if events:
            last_sent = now
        if now - started >= timing.max_stream_seconds:
            return
        if now - last_sent >= timing.heartbeat_seconds:
            yield sse_frame(comment="keep-alive")
            last_sent = now
        if len(events) < EVENT_BATCH:
            await asyncio.sleep(min(timing.poll_seconds, max(0.0, started + timing.max_stream_seconds - now)))
