"""Worker presence: a process that drives runs says who it is and beats, so its death is seen in seconds.

A run's lease names its worker (`RunRow.lease_owner`). Recovery asks `is_dead` of each owner of a
`running` run: a worker that stopped cleanly, whose heartbeat is older than `dead_after`, or that ran on
this host under a process id that no longer exists is dead, and its runs are taken over at once. A worker
that still beats is never robbed, however long its run takes. An owner with no row (a runner without a
presence, such as a library user's) is judged by the run's lease, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import logfire

from signoff.agent.store import workers as worker_store
from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import WorkerRow

__all__ = [
    "DEFAULT_DEAD_AFTER",
    "DEFAULT_HEARTBEAT_INTERVAL",
    "WorkerPresence",
    "is_dead",
    "this_host",
]

DEFAULT_HEARTBEAT_INTERVAL = timedelta(seconds=1)
"""How often a live worker beats."""
DEFAULT_DEAD_AFTER = timedelta(seconds=6)
"""A worker whose last beat is older than this is dead: several missed beats, not one slow write."""
# Rows of workers dead this long are forgotten (their runs were taken over long ago).
_FORGET_AFTER = timedelta(days=1)


def this_host() -> str:
    """The name workers of this machine record."""
    return socket.gethostname()


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def is_dead(worker: WorkerRow, *, now: datetime, dead_after: timedelta, host: str, own_id: str) -> bool:
    """Whether `worker` is dead, as seen from a worker `own_id` on `host` at `now`."""
    if worker.worker_id == own_id:
        return False
    if worker.stopped_at is not None or now - worker.heartbeat_at > dead_after:
        return True
    # On the same host a killed process is known dead at once, before its heartbeat goes stale.
    return worker.host == host and worker.pid != os.getpid() and not _process_exists(worker.pid)


@dataclass(kw_only=True)
class WorkerPresence:
    """Registers a worker and beats for it in a background task until `stop`."""

    session_factory: SessionFactory
    worker_id: str
    clock: Callable[[], datetime]
    interval: timedelta = DEFAULT_HEARTBEAT_INTERVAL
    host: str = field(default_factory=this_host)
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    async def start(self) -> None:
        """Record the worker and start beating (idempotent)."""
        if self._task is not None:
            return
        now = self.clock()
        async with self.session_factory.begin() as session:
            await worker_store.prune(session, older_than=now - _FORGET_AFTER)
            await worker_store.register(session, worker_id=self.worker_id, host=self.host, pid=os.getpid(), now=now)
        self._task = asyncio.create_task(self._beat(), name=f"signoff-heartbeat-{self.worker_id}")

    async def _beat(self) -> None:
        while True:
            # Woken by `stop` rather than cancelled: a beat is never cut off inside its transaction (a
            # cancelled write could leave the database's write lock to a task that no longer runs).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval.total_seconds())
            if self._stopping.is_set():
                return
            try:
                async with self.session_factory.begin() as session:
                    alive = await worker_store.beat(session, worker_id=self.worker_id, now=self.clock())
            except Exception as error:  # a missed beat is retried at the next one
                logfire.warn(
                    "heartbeat of {worker_id} failed: {error_type}",
                    worker_id=self.worker_id,
                    error_type=type(error).__name__,
                )
                continue
            if not alive:
                logfire.error("worker {worker_id} was marked stopped while it ran", worker_id=self.worker_id)
                return

    async def stop(self) -> None:
        """Stop beating and remove the worker's row (release its runs first: their leases then say they are free)."""
        if self._task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(self._task, timeout=max(10.0, 5 * self.interval.total_seconds()))
        except TimeoutError:
            logfire.warn("heartbeat of {worker_id} did not stop in time", worker_id=self.worker_id)
        self._task = None
        async with self.session_factory.begin() as session:
            await worker_store.stop(session, worker_id=self.worker_id)
