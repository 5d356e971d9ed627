"""Fixtures for the sales tool pack: a fresh SQLite file per test, a movable clock, offline providers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from signoff.tools.registry import ToolSpec
from signoff.tools.sales import SalesProviders, build_sales_tools, offline_providers, sales_metadata
from tests.tools.sales_support import MovableClock, RowCounter, ToolCaller


@pytest.fixture
async def sales_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    async with engine.begin() as conn:
        await conn.run_sync(sales_metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def sales_sessionmaker(sales_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(sales_engine, expire_on_commit=False)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime(2025, 3, 3, 9, 0, tzinfo=UTC))


@pytest.fixture
def providers(sales_sessionmaker: async_sessionmaker[AsyncSession], clock: MovableClock) -> SalesProviders:
    return offline_providers(sales_sessionmaker, clock=clock)


@pytest.fixture
def sales_tools(providers: SalesProviders) -> dict[str, ToolSpec]:
    return {spec.name: spec for spec in build_sales_tools(providers)}


@pytest.fixture
def call_tool(sales_tools: dict[str, ToolSpec]) -> ToolCaller:
    return ToolCaller(sales_tools)


@pytest.fixture
def count_rows(sales_sessionmaker: async_sessionmaker[AsyncSession]) -> RowCounter:
    return RowCounter(sales_sessionmaker)
