"""Helpers the sales tool tests share (fixtures in conftest.py hand out instances of these)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic_ai.models.test import TestModel
from pydantic_ai.tools import RunContext
from pydantic_ai.usage import RunUsage
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.tools.context import PromptRef, RunDeps
from signoff.tools.registry import ToolSpec
from signoff.tools.sales.tables import SalesBase

__all__ = ["MovableClock", "RowCounter", "ToolCaller", "call_spec", "run_deps"]

# The prompt a test run claims to use; ledger rows copy it, nothing checks it against prompts/.
_TEST_PROMPT = PromptRef(name="sales_agent", version="test", content_hash="sha256:test")


class MovableClock:
    """A UTC clock that stands still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class ToolCaller:
    """Runs a sales tool by name the way pydantic-ai does: validate model-shaped arguments, then call."""

    def __init__(self, specs: Mapping[str, ToolSpec]) -> None:
        self._specs = specs

    async def __call__(self, tool_name: str, raw_args: Mapping[str, Any], *, deps: RunDeps | None = None) -> Any:
        return await call_spec(self._specs[tool_name], raw_args, deps=deps)


def run_deps(run_id: str = "run-test", **fields: Any) -> RunDeps:
    """The deps of a run as the runner builds them (no routed model calls unless given)."""
    return RunDeps(run_id=run_id, prompt=_TEST_PROMPT, **fields)


async def call_spec(spec: ToolSpec, raw_args: Mapping[str, Any], *, deps: RunDeps | None = None) -> Any:
    """Validate model-shaped arguments, then call the tool; a tool that takes the run's context gets one
    around `deps` (default: a run without routed model calls)."""
    validated = spec.tool.function_schema.validator.validate_python(dict(raw_args))
    if not spec.takes_ctx:
        return await spec.function(**validated)
    context = RunContext[RunDeps](deps=deps or run_deps(), model=TestModel(), usage=RunUsage(), tool_name=spec.name)
    return await spec.function(context, **validated)


class RowCounter:
    """Counts rows of a sales table, so tests assert what the offline providers really stored."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def __call__(self, row_class: type[SalesBase]) -> int:
        async with self._sessionmaker() as session:
            return await session.scalar(select(func.count()).select_from(row_class)) or 0
