"""Runs driven in background tasks of the server process, and handed over cleanly at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import logfire

from signoff.agent.runner import Runner
from signoff.agent.runs import RunOutcome

__all__ = ["FULL_SWEEP_EVERY", "SHUTDOWN_GRACE_SECONDS", "SWEEP_INTERVAL_SECONDS", "BackgroundRuns"]

# How long shutdown waits for runs in flight before cancelling them. Short, because a cancelled run
# is not lost: its lease is released and the next process (or `signoff recover`) continues it.
SHUTDOWN_GRACE_SECONDS = 5.0
# How long the hand-over after the grace may take (cancelled tasks unwinding, leases released): a task
# stuck in a database statement must not hold the shutdown either.
_HANDOVER_SECONDS = 5.0
# The sweep: how often this process looks for runs of dead workers and for approvals that expired (both
# move on within seconds, with no person and no restart), and every how many sweeps it also resumes
# runs whose approvals were all decided but that nobody resumed (a scan of the whole queue).
SWEEP_INTERVAL_SECONDS = 1.0
FULL_SWEEP_EVERY = 30


class BackgroundRuns:
    """Starts, resumes and recovers runs without blocking requests; one task per run at a time."""

    def __init__(
        self,
        runner: Runner,
        *,
        grace_seconds: float = SHUTDOWN_GRACE_SECONDS,
        sweep_interval_seconds: float = SWEEP_INTERVAL_SECONDS,
    ) -> None:
        self._runner = runner
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._closing = False
        self._grace_seconds = grace_seconds
        self._sweep_interval = sweep_interval_seconds
        self._sweeper: asyncio.Task[None] | None = None

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

    def start_sweeping(self) -> None:
        """Sweep now and then until shutdown: runs of dead workers are taken over and runs whose approvals
        expired move on, within seconds (see `Runner.recover`)."""
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="signoff-sweeper")

    async def _sweep(self) -> None:
        sweeps = 0
        while not self._closing:
            await asyncio.sleep(self._sweep_interval)
            sweeps += 1
            if "<recovery>" in self._tasks:
                continue  # the previous sweep (or start-up recovery) is still at work
            self._spawn("<recovery>", self._runner.recover(full=sweeps % FULL_SWEEP_EVERY == 0))

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
        """Stop taking work, give runs in flight the grace, cancel the rest and hand their runs over.

        A call cancelled mid-execution becomes `unknown` only when its effect may have happened (a tool
        with side effects); a read becomes `failed` (it changed nothing); an approved call not yet started
        stays `approved`, for whoever continues the run. Bounded: a task stuck in a database statement is
        abandoned after the hand-over time rather than holding the process.
        """
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        if not self._tasks:
            return
        tasks = list(self._tasks.values())
        run_ids = [key for key in self._tasks if not key.startswith("<")]
        _done, pending = await asyncio.wait(tasks, timeout=self._grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            _cancelled, stuck = await asyncio.wait(pending, timeout=_HANDOVER_SECONDS)
            if stuck:
                logfire.warn("{count} runs did not stop when cancelled; handing them over anyway", count=len(stuck))
            try:
                async with asyncio.timeout(_HANDOVER_SECONDS):
                    await self._runner.release(run_ids)
            except TimeoutError:
                # Their leases end with this process's heartbeat: recovery elsewhere takes them in seconds.
                logfire.error("releasing {count} runs timed out at shutdown", count=len(run_ids))
