"""Runs driven in background tasks of the server process, and handed over cleanly at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import logfire

from signoff.agent.runner import Runner
from signoff.agent.runs import RunOutcome

__all__ = ["SHUTDOWN_GRACE_SECONDS", "BackgroundRuns"]

# How long shutdown waits for runs in flight before cancelling them. Short, because a cancelled run
# is not lost: its lease is released and the next process (or `signoff recover`) continues it.
SHUTDOWN_GRACE_SECONDS = 5.0


class BackgroundRuns:
    """Starts, resumes and recovers runs without blocking requests; one task per run at a time."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._closing = False

    @property
    def in_flight(self) -> int:
        """How many runs this process is driving now."""
        return len(self._tasks)

    def drive_new(self, run_id: str) -> None:
        """Drive a run just created by `Runner.create_run`."""
        self._spawn(run_id, self._runner.drive_new(run_id))

    def resume(self, run_id: str) -> None:
        """Resume a run whose approvals may all be decided (a no-op otherwise)."""
        self._spawn(run_id, self._runner.resume(run_id))

    def recover(self) -> None:
        """Settle and continue what earlier processes left (at start-up)."""
        self._spawn("<recovery>", self._runner.recover())

    def _spawn(self, key: str, work: Coroutine[Any, Any, RunOutcome | list[RunOutcome]]) -> None:
        if self._closing:
            work.close()
            return
        previous = self._tasks.get(key)

        async def after_previous() -> RunOutcome | list[RunOutcome]:
            # One driver per run in this process: a resume requested while the run is still being
            # driven waits for that drive (the database would refuse the second claim anyway).
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            return await work

        task = asyncio.create_task(after_previous(), name=f"signoff-run-{key}")
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._finished(key, done))

    def _finished(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled() and task.exception() is not None:
            logfire.error(
                "background work for {key} failed: {error_type}", key=key, error_type=type(task.exception()).__name__
            )

    async def shutdown(self) -> None:
        """Stop taking work, give runs in flight a moment, cancel the rest and release their leases."""
        self._closing = True
        if not self._tasks:
            return
        tasks = list(self._tasks.values())
        run_ids = [key for key in self._tasks if not key.startswith("<")]
        _done, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            await self._runner.release(run_ids)
