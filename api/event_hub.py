"""One poller per process that tells open event streams when their run has new events.

Without it every open stream polled the database four times a second for as long as its run lasted,
and a run waiting for people keeps its stream open for minutes: with many clients the polls, not the
runs, used most of the server's time (bench/README.md, HTTP API). With it the process asks one question
per interval for all streams together ("which runs have events after the newest id I saw?"), and only a
stream whose run has news reads its events. Streams still wake every quarter second, but only to see
whether their client is gone, which costs no query.

Event ids on PostgreSQL come from a sequence, so a transaction can commit an id lower than one already
seen; the hub would never report it. Each stream therefore also reads on its own every
`fallback_seconds`, which bounds that rare delay; on SQLite, whose writers take turns, ids appear in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import logfire
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from signoff.agent.store.engine import SessionFactory, read_session_factory
from signoff.agent.store.tables import RunEventRow

__all__ = ["FALLBACK_SECONDS", "HUB_POLL_SECONDS", "RunEventHub"]

# How often the hub asks for news while any stream is open: feels live to a person watching a run.
HUB_POLL_SECONDS = 0.25
# How long a stream waits without news before it reads anyway (see the module docstring).
FALLBACK_SECONDS = 2.0


class RunEventHub:
    """Wakes the streams of runs that have new events; polls only while a stream is open."""

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        poll_seconds: float = HUB_POLL_SECONDS,
        fallback_seconds: float = FALLBACK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = read_session_factory(session_factory)
        self.poll_seconds = poll_seconds
        self.fallback_seconds = fallback_seconds
        self._clock = clock
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._newest_seen: int | None = None
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def subscription(self, run_id: str) -> AsyncIterator[RunEventWaiter]:
        """A waiter woken when `run_id` gets events; held for the life of one stream."""
        flag = asyncio.Event()
        self._waiters.setdefault(run_id, set()).add(flag)
        self._ensure_polling()
        try:
            yield RunEventWaiter(flag, self.fallback_seconds, self._clock)
        finally:
            flags = self._waiters.get(run_id)
            if flags is not None:
                flags.discard(flag)
                if not flags:
                    del self._waiters[run_id]

    async def close(self) -> None:
        """Stop polling (at shutdown); open subscriptions fall back to reading on their own."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _ensure_polling(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll_while_subscribed())

    async def _poll_while_subscribed(self) -> None:
        while self._waiters:
            try:
                await self._poll_once()
            except (SQLAlchemyError, OSError) as error:
                # Streams still read every `fallback_seconds`; the next poll tries again.
                logfire.warn("run event hub poll failed: {error_type}", error_type=type(error).__name__)
            await asyncio.sleep(self.poll_seconds)

    async def _poll_once(self) -> None:
        async with self._sessions() as session:
            if self._newest_seen is None:
                # Streams read their own backlog first, so only what comes after now is news.
                newest = (await session.execute(select(func.max(RunEventRow.event_id)))).scalar_one_or_none()
                self._newest_seen = newest or 0
                return
            rows = (
                await session.execute(
                    select(RunEventRow.run_id, func.max(RunEventRow.event_id))
                    .where(RunEventRow.event_id > self._newest_seen)
                    .group_by(RunEventRow.run_id)
                )
            ).all()
        for run_id, newest in rows:
            self._newest_seen = max(self._newest_seen, newest)
            for flag in self._waiters.get(run_id, ()):
                flag.set()


class RunEventWaiter:
    """One stream's side of a subscription: tells the stream when reading the database is worth it."""

    def __init__(self, flag: asyncio.Event, fallback_seconds: float, clock: Callable[[], float]) -> None:
        self._flag = flag
        self._fallback_seconds = fallback_seconds
        self._clock = clock
        self._last_read: float | None = None

    def should_read(self) -> bool:
        """True the first time, when the run has news, or when `fallback_seconds` passed without a read."""
        now = self._clock()
        due = self._last_read is None or now - self._last_read >= self._fallback_seconds
        if not (due or self._flag.is_set()):
            return False
        self._flag.clear()
        self._last_read = now
        return True
