"""Shared fixtures: every database test runs on SQLite, and on PostgreSQL when
`SIGNOFF_TEST_POSTGRES_URL` is set (`.ci/run` sets it to the local server)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import models
from pydantic_ai.models import Model
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.agent.runs import RunnerSettings
from signoff.agent.runtime import Runtime, build_runtime
from signoff.agent.store.engine import SessionFactory, create_engine, create_session_factory
from signoff.agent.store.migrate import upgrade_database
from signoff.agent.telemetry import configure_telemetry
from signoff.policies import PolicyConfig, PolicyEngine, build_policy_engine
from signoff.tools.sales import SalesProviders, offline_providers, sales_pack
from tests.support.cli import Signoff, cli_env
from tests.support.clock import FakeClock

# No test may reach a real model API.
models.ALLOW_MODEL_REQUESTS = False

# Local-only telemetry with Signoff's scrubbing, as production configures it (nothing is exported).
configure_telemetry(instrument_pydantic_ai=False)

POSTGRES_URL = os.environ.get("SIGNOFF_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


async def reset_postgres(url: str) -> None:
    """Drop everything in the public schema, so each test starts from an empty database."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'signoff.db'}"
    assert POSTGRES_URL is not None
    await reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated engine."""
    engine = create_engine(database_url)
    await upgrade_database(engine, [sales_pack()])
    yield engine
    await engine.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> SessionFactory:
    return create_session_factory(engine)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def policy() -> PolicyEngine:
    """The default policy."""
    return build_policy_engine(PolicyConfig())


RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
def make_runtime(
    session_factory: SessionFactory, clock: FakeClock, policy: PolicyEngine, tmp_path: Path
) -> RuntimeFactory:
    """Build a runtime on the test database: `make_runtime(model, providers=..., settings=...)`."""

    def factory(
        model: Model,
        *,
        providers: SalesProviders | None = None,
        settings: RunnerSettings | None = None,
        policy_engine: PolicyEngine | None = None,
        factory_session: SessionFactory | None = None,
        **kwargs: Any,
    ) -> Runtime:
        sessions = factory_session or session_factory
        chosen = providers or offline_providers(sessions, clock=clock)
        return build_runtime(
            session_factory=sessions,
            model=model,
            policy=policy_engine or policy,
            packs=[sales_pack(providers=lambda _context: chosen)],
            runner_settings=settings or RunnerSettings(),
            ledger_spool_path=tmp_path / "ledger-spool.jsonl",
            clock=clock,
            **kwargs,
        )

    return factory


@pytest.fixture(params=BACKENDS)
def signoff(request: pytest.FixtureRequest, tmp_path: Path) -> Signoff:
    """The `signoff` CLI on an empty database of each backend, with the offline model."""
    data_dir = tmp_path / "signoff-data"
    if request.param == "sqlite":
        database_url = f"sqlite+aiosqlite:///{data_dir / 'signoff.db'}"
        env = cli_env(data_dir, None)  # the default database: a SQLite file in the data directory
    else:
        assert POSTGRES_URL is not None
        asyncio.run(reset_postgres(POSTGRES_URL))
        database_url = POSTGRES_URL
        env = cli_env(data_dir, database_url)
    return Signoff(env=env, database_url=database_url, data_dir=data_dir)
