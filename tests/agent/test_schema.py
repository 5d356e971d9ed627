"""The ORM models and the schema the migrations create match, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.agent.store.migrate import current_revision, head_revision, upgrade_database
from signoff.agent.store.schema import target_metadata


async def test_models_match_migrated_schema(engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, target_metadata))  # pyright: ignore[reportArgumentType]

    async with engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == []


async def test_migrations_are_at_head_and_idempotent(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()
    await upgrade_database(engine)  # a second run changes nothing and does not fail
    assert await current_revision(engine) == head_revision()
