"""Helpers the sales tool tests share (fixtures in conftest.py hand out instances of these)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tools.registry import ToolSpec
from tools.sales.tables import SalesBase

__all__ = ["MovableClock", "RowCounter", "ToolCaller"]


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

    async def __call__(self, tool_name: str, raw_args: Mapping[str, Any]) -> Any:
        spec = self._specs[tool_name]
        validated = spec.tool.function_schema.validator.validate_python(dict(raw_args))
        return await spec.function(**validated)


class RowCounter:
    """Counts rows of a sales table, so tests assert what the offline providers really stored."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def __call__(self, row_class: type[SalesBase]) -> int:
        async with self._sessionmaker() as session:
            return await session.scalar(select(func.count()).select_from(row_class)) or 0
