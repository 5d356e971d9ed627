"""Which Signoff run the current task is driving, independent of the agent's own `deps`.

The guard and the ledger need the run's identity on every tool call and model request. The built-in
agent has it as `RunContext.deps` (a `RunDeps`), but an agent a developer brought (see `Guard`) has deps
of its own type. So the runner binds the run's `RunDeps` in a context variable around each drive, and
the guard and the ledger read it from there. asyncio copies context into the tasks pydantic-ai starts
for tool calls, so the binding reaches them; nothing outside a drive sees it, and a tool call with no
bound run is refused rather than run unrecorded.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pydantic_ai.tools import RunContext

from signoff.tools.context import RunDeps

__all__ = ["bound_run", "current_run", "run_of"]

_current: ContextVar[RunDeps | None] = ContextVar("signoff_run", default=None)


def current_run() -> RunDeps | None:
    """The run being driven in this task, or None outside a drive."""
    return _current.get()


def run_of(ctx: RunContext[Any]) -> RunDeps | None:
    """The run a pydantic-ai context belongs to: the bound one, else its deps when they are a `RunDeps`
    (a routed call a tool makes with its run's deps)."""
    bound = _current.get()
    if bound is not None:
        return bound
    return ctx.deps if isinstance(ctx.deps, RunDeps) else None


@contextmanager
def bound_run(run: RunDeps) -> Generator[RunDeps]:
    """Bind `run` as the current run for the duration of the block."""
    token = _current.set(run)
    try:
        yield run
    finally:
        _current.reset(token)
